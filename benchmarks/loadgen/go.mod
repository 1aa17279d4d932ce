module registro.local/loadgen

go 1.22

// The "Oficina 2000" test site: a second legacy system with markup unlike the demo's.
window.ORDENS = {
  "501": {
    cli: {cnpj: "11.222.333/0001-81", razao: "Fundição Três Irmãos Ltda.", fantasia: "—",
          ie: "123.456.789.110", rua: "Rua Dom Pedro II", num: "1.250", compl: "",
          bairro: "Vila Nova", cidade: "Blumenau", uf: "sc", cep1: "89012", cep2: "345",
          ddd: "47", fone: "3322-1100", email: "compras@tresirmaos.com.br",
          contato: "Inês Brandão", cargo: "Compradora"},
    eq: {serie: "SN-77/2020", tipo: "Compressor de ar", fab: "Schulz", modelo: "MSV 40",
         pot: "10 cv", tensao: "380V", corr: "14,2 A", rpm: "1.750", freq: "60 Hz",
         ano: "2020", ip: "IP55", carc: "132M", peso: "1.310,5 kg", tag: "COMP-03",
         isol: "F"},
    os: {abertura: "02/01/2024", previsao: "15/01/2024", conclusao: "—", status: "Em execução",
         prio: "ALTA", setor: "Mecânica", tecnico: "José Araújo",
         defeito: "Vazamento de óleo no cabeçote.", diag: "Junta do cabeçote rompida.",
         servico: "-", horas: "3,5", mo: "R$ 1.234,56", pecas: "R$ 0,00",
         total: "R$ 1.234,56", garantia: "90 dias", nf: "", obs: "Cliente retira às 8h."}
  },
  "502": {
    cli: {cnpj: "44.555.666/0001-99", razao: "Cerâmica Açaí S.A.", fantasia: "Açaí Pisos",
          ie: "—", rua: "Avenida Brasil", num: "77", compl: "Galpão 2",
          bairro: "Distrito Industrial", cidade: "Criciúma", uf: "SC", cep1: "88801",
          cep2: "000", ddd: "48", fone: "99876-5432", email: "—",
          contato: "Luís Simões", cargo: "—"},
    eq: {serie: "WX-1", tipo: "Forno elétrico", fab: "—", modelo: "—",
         pot: "—", tensao: "—", corr: "—", rpm: "—", freq: "—",
         ano: "1999", ip: "—", carc: "—", peso: "—", tag: "—", isol: "—"},
    os: {abertura: "31/12/2023", previsao: "—", conclusao: "10/01/2024", status: "Entregue",
         prio: "Normal", setor: "Elétrica", tecnico: "Márcia Gonçalves",
         defeito: "Resistência queimada.", diag: "—", servico: "Troca das resistências.",
         horas: "12", mo: "R$ 10.000,00", pecas: "R$ 2.500,50", total: "R$ 12.500,50",
         garantia: "365 dias", nf: "004242", obs: "—"}
  }
};

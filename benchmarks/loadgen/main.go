// Command loadgen sends paced, open-loop HTTP requests for bench_api_paced.py.
//
// N users, each with its own API key and keep-alive connection, send one request per
// second; user i starts at i/N s, so arrivals are spread over the first second. Every
// request is sent at its scheduled time whatever happened to the previous ones (open
// loop), and its latency is measured from that time, so a late client does not hide
// queueing. It prints one JSON object with the same fields as the Python client.
// A "{n}" in -path becomes -first, -first+1, ... (one new OS per request).
//
// Why Go: the load generator shares the API's two cores. The aiohttp client cost about
// as much CPU per request as the API's bare route; this one a fraction of it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	latency float64 // seconds from the scheduled time; <0: not a 2xx
	lag     float64 // seconds the send was late
	kind    string  // error kind, "" when 2xx
	done    time.Time
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Round(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func readKeys(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() && len(keys) < n {
		if key := strings.TrimSpace(scanner.Text()); key != "" {
			keys = append(keys, key)
		}
	}
	if len(keys) < n {
		return nil, fmt.Errorf("%s holds %d keys, %d users asked", path, len(keys), n)
	}
	return keys, scanner.Err()
}

func classify(err error) string {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return "timeout"
	}
	return "connection"
}

func main() {
	base := flag.String("url", "", "API base URL, e.g. http://127.0.0.1:8000")
	method := flag.String("method", "GET", "HTTP method")
	path := flag.String("path", "/healthz", "request path")
	keysFile := flag.String("keys", "", "file with one API key per line")
	users := flag.Int("users", 100, "simulated users")
	seconds := flag.Int("seconds", 15, "seconds per step")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	first := flag.Int64("first", 0, "first number for a {n} in -path (each request the next)")
	flag.Parse()
	var sequence atomic.Int64
	requestPath := func() string {
		if !strings.Contains(*path, "{n}") {
			return *path
		}
		n := *first + sequence.Add(1) - 1
		return strings.Replace(*path, "{n}", strconv.FormatInt(n, 10), 1)
	}

	keys, err := readKeys(*keysFile, *users)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	clients := make([]*http.Client, *users)
	for i := range clients {
		clients[i] = &http.Client{Timeout: *timeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1, DisableCompression: true, IdleConnTimeout: time.Minute,
		}}
	}
	do := func(i int, method, path string) (int, error) {
		req, err := http.NewRequest(method, *base+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+keys[i])
		resp, err := clients[i].Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, err
	}

	// Open every user's connection first, so the step measures requests, not connects.
	var warm sync.WaitGroup
	for i := range clients {
		warm.Add(1)
		go func(i int) { defer warm.Done(); _, _ = do(i, "GET", "/healthz") }(i)
	}
	warm.Wait()

	total := *users * *seconds
	results := make(chan result, total)
	start := time.Now().Add(500 * time.Millisecond)
	for i := 0; i < *users; i++ {
		offset := time.Duration(float64(i) / float64(*users) * float64(time.Second))
		go func(i int, offset time.Duration) {
			for tick := 0; tick < *seconds; tick++ {
				due := start.Add(offset + time.Duration(tick)*time.Second)
				time.Sleep(time.Until(due))
				go func() {
					lag := time.Since(due).Seconds()
					status, err := do(i, *method, requestPath())
					now := time.Now()
					r := result{latency: now.Sub(due).Seconds(), lag: lag, done: now}
					switch {
					case err != nil:
						r.kind = classify(err)
					case status < 200 || status >= 300:
						r.kind = fmt.Sprintf("http_%d", status)
					}
					results <- r
				}()
			}
		}(i, offset)
	}

	var latencies, lags []float64
	kinds := map[string]int{"timeout": 0, "connection": 0}
	lastDone := start
	errorsCount := 0
	for n := 0; n < total; n++ {
		r := <-results
		lags = append(lags, r.lag)
		if r.kind != "" {
			kinds[r.kind]++
			errorsCount++
			continue
		}
		latencies = append(latencies, r.latency)
		if r.done.After(lastDone) {
			lastDone = r.done
		}
	}
	sort.Float64s(latencies)
	sort.Float64s(lags)
	elapsed := math.Max(lastDone.Sub(start).Seconds(), 1e-9)
	ms := func(seconds float64) any { // JSON has no NaN: null when nothing was measured
		if math.IsNaN(seconds) {
			return nil
		}
		return seconds * 1000
	}
	out := map[string]any{
		"p50": ms(percentile(latencies, 0.50)), "p99": ms(percentile(latencies, 0.99)),
		"rate": float64(len(latencies)) / elapsed, "ok": len(latencies), "sent": total,
		"errors": errorsCount, "error_kinds": kinds,
		"client_lag_p99": ms(percentile(lags, 0.99)),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

package main

// The load generator. It is written in Go rather than driven through wrk
// because wrk is not installed on the development machine, and because the
// refresh test chains each answer's refresh token into the next request,
// which is plain code here (with wrk, a Lua script). It uses fasthttp, whose
// client costs far less CPU per request than net/http's: the generator runs
// on the same cores as the server, so every cycle it spends is taken from
// the server. App and baseline face the same generator, which keeps their
// ratio fair.

import (
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// noAnswer is the status recorded for an operation that got no HTTP answer
// (a transport error, or a failed in-process call).
const noAnswer = 0

// Summary is what one round of load produced.
type Summary struct {
	Rate     float64 // successful operations (status 200) per second
	P50, P99 time.Duration
	Statuses map[int]int // operations by outcome: HTTP status, or noAnswer
}

// Failures counts the operations that did not succeed.
func (s Summary) Failures() int {
	n := 0
	for status, count := range s.Statuses {
		if status != fasthttp.StatusOK {
			n += count
		}
	}
	return n
}

// closedLoop runs workers goroutines that each call step back to back for
// warmup+window, like wrk's connections: a worker starts an operation only
// when its previous one is done, so the load adapts to what the server
// sustains. Operations started during the warm-up (connections opening,
// caches filling) are not counted. step returns the operation's status.
func closedLoop(workers int, warmup, window time.Duration, step func(worker int) int) Summary {
	start := time.Now()
	countFrom, stopAt := start.Add(warmup), start.Add(warmup+window)

	// One tally per worker, merged at the end: no locking on the hot path.
	type tally struct {
		latencies []time.Duration
		statuses  map[int]int
	}
	tallies := make([]tally, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			t := &tallies[w]
			t.statuses = map[int]int{}
			for {
				began := time.Now()
				if !began.Before(stopAt) {
					return
				}
				status := step(w)
				if began.Before(countFrom) {
					continue
				}
				t.latencies = append(t.latencies, time.Since(began))
				t.statuses[status]++
			}
		})
	}
	wg.Wait()

	var latencies []time.Duration
	statuses := map[int]int{}
	for _, t := range tallies {
		latencies = append(latencies, t.latencies...)
		for status, n := range t.statuses {
			statuses[status] += n
		}
	}
	slices.Sort(latencies)
	return Summary{
		Rate:     float64(statuses[fasthttp.StatusOK]) / window.Seconds(),
		P50:      percentile(latencies, 0.50),
		P99:      percentile(latencies, 0.99),
		Statuses: statuses,
	}
}

// percentile reads the p-quantile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}

// newHostClient opens at most conns keep-alive connections to addr. With as
// many workers as connections, each worker in effect has its own.
func newHostClient(addr string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:               addr,
		MaxConns:           conns,
		MaxConnWaitTimeout: 30 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
	}
}

// exchange is one worker's side of an HTTP conversation: build writes each
// request (into a reset Request), read sees each answer (nil: not needed).
type exchange struct {
	build func(worker int, req *fasthttp.Request)
	read  func(worker int, resp *fasthttp.Response)
}

// httpLoad runs closedLoop over HTTP to addr, one connection per worker.
func httpLoad(addr string, workers int, warmup, window time.Duration, x exchange) Summary {
	hc := newHostClient(addr, workers)
	defer hc.CloseIdleConnections()
	reqs := make([]fasthttp.Request, workers)
	resps := make([]fasthttp.Response, workers)
	return closedLoop(workers, warmup, window, func(w int) int {
		req, resp := &reqs[w], &resps[w]
		req.Reset()
		x.build(w, req)
		if err := hc.Do(req, resp); err != nil {
			return noAnswer
		}
		if x.read != nil {
			x.read(w, resp)
		}
		return resp.StatusCode()
	})
}

// burst sends one request from each of n clients at the same moment, each
// on a connection of its own, and counts the answers by status.
func burst(addr string, n int, build func(client int, req *fasthttp.Request)) map[int]int {
	hc := newHostClient(addr, n)
	defer hc.CloseIdleConnections()
	statuses := make([]int, n)
	ready := make(chan struct{})
	var built, wg sync.WaitGroup
	built.Add(n)
	for i := range n {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			build(i, req)
			built.Done()
			<-ready // every request is built first, so that they leave together
			if err := hc.Do(req, resp); err != nil {
				statuses[i] = noAnswer
				return
			}
			statuses[i] = resp.StatusCode()
		})
	}
	built.Wait()
	close(ready)
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	return counts
}

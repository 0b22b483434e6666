package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// The targets each figure is checked against.
const (
	minMeRatio         = 0.8 // app req/s ÷ baseline req/s
	maxMeP99Ratio      = 2.0 // app p99 ÷ baseline p99
	minRefreshRate     = 2500
	maxRefreshP99      = 50 * time.Millisecond
	minRefreshVsRaw    = 0.6
	minLoginsVsHashing = 0.9
	maxBurstRSS        = 200 << 20
	maxIdleRSS         = 40 << 20
	maxTimeToHealthy   = 300 * time.Millisecond
	burstAllowedList   = "200/401/429/503"
)

// burstAllowed are the answers a login in the burst may get: success, a
// refusal, a rate limit, or 503 after 2 s waiting for a hashing slot.
var burstAllowed = []int{fasthttp.StatusOK, fasthttp.StatusUnauthorized, fasthttp.StatusTooManyRequests, fasthttp.StatusServiceUnavailable}

// row is one line of the results table.
type row struct {
	figure, app, yardstick, ratio, target string
	ok                                    bool
	reported                              bool // no target: measured to be compared
}

func printReport(w io.Writer, s settings, m *measurements) {
	fmt.Fprintf(w, "Machine: %s, %d cores, %s, %s UTC\n\n", cpuModel(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "Generator: Go, closed loop on fasthttp keep-alive connections (wrk is not installed here; the refresh test "+
		"also chains each answer's token into the next request). It runs on the same cores as the servers: app and "+
		"yardstick face the same generator, so compare ratios. Medians of %d round(s) of %s, each after %s of warm-up, "+
		"app and yardstick measured in turns.\n\n", s.rounds, s.duration, warmup)

	fmt.Fprintln(w, "| figure | app | baseline / limit | ratio | target | ok |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows(m) {
		mark := "✘"
		switch {
		case r.reported:
			mark = "–"
		case r.ok:
			mark = "✔"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.figure, r.app, r.yardstick, r.ratio, r.target, mark)
	}

	fmt.Fprintln(w)
	fmt.Fprint(w, "| each round |")
	for round := range s.rounds {
		fmt.Fprintf(w, " %d |", round+1)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---|", s.rounds))
	for _, r := range roundRows(m) {
		fmt.Fprintf(w, "| %s | %s |\n", r.name, strings.Join(r.values, " | "))
	}
}

func rows(m *measurements) []row {
	var out []row
	add := func(r row) { out = append(out, r) }

	add(meRow("me (cookie) req/s", m.meCookie, m.meCookieBase))
	appP99, baseP99 := median(mapped(m.meCookie, p99)), median(mapped(m.meCookieBase, p99))
	add(row{
		figure: "me (cookie) p99", app: ms(appP99), yardstick: ms(baseP99),
		ratio: times(float64(appP99) / float64(baseP99)), target: "≤ " + times(maxMeP99Ratio),
		ok: float64(appP99) <= maxMeP99Ratio*float64(baseP99),
	})
	add(meRow("me (bearer) req/s", m.meBearer, m.meBearerBase))

	refresh, refreshP99, errs := median(mapped(m.refresh, rate)), median(mapped(m.refresh, p99)), failures(m.refresh)
	add(row{
		figure: "refresh req/s (p50 / p99 / errors)", app: loadCell(m.refresh),
		yardstick: "limit " + perSecond(minRefreshRate), ratio: times(refresh / minRefreshRate),
		target: fmt.Sprintf("≥ %s, p99 ≤ %s, 0 errors", perSecond(minRefreshRate), ms(maxRefreshP99)),
		ok:     refresh >= minRefreshRate && refreshP99 <= maxRefreshP99 && errs == 0,
	})
	raw := median(mapped(m.rawRotation, rate))
	add(row{
		figure: "refresh vs raw rotation", app: perSecond(refresh), yardstick: perSecond(raw) + " in-process",
		ratio: times(refresh / raw), target: "≥ " + times(minRefreshVsRaw),
		ok: refresh/raw >= minRefreshVsRaw,
	})

	logins, hash := median(mapped(m.logins, rate)), median(m.hashTimes)
	expected := float64(runtime.NumCPU()) / hash.Seconds()
	add(row{
		figure: "logins vs cores ÷ hash", app: perSecond(logins) + errorsNote(m.logins),
		yardstick: fmt.Sprintf("%s = %d ÷ %s", perSecond(expected), runtime.NumCPU(), ms(hash)),
		ratio:     times(logins / expected), target: "≥ " + times(minLoginsVsHashing),
		ok: logins/expected >= minLoginsVsHashing,
	})

	peak := median(mapped(m.bursts, func(b burstResult) uint64 { return b.peak.RSS }))
	hwm := slices.Max(mapped(m.bursts, func(b burstResult) uint64 { return b.peak.HWM }))
	statuses := map[int]int{}
	for _, b := range m.bursts {
		for status, n := range b.statuses {
			statuses[status] += n
		}
	}
	add(row{
		figure:    fmt.Sprintf("%d logins peak RSS (statuses)", burstClients),
		app:       fmt.Sprintf("%s (VmHWM %s) · %s", mib(peak), mib(hwm), statusList(statuses)),
		yardstick: "limit " + mib(maxBurstRSS), ratio: times(float64(peak) / maxBurstRSS),
		target: "< " + mib(maxBurstRSS) + ", only " + burstAllowedList,
		ok:     peak < maxBurstRSS && hwm < maxBurstRSS && onlyAllowed(statuses),
	})

	if pg := m.postgres; pg != nil {
		pgRefresh := median(mapped(pg.refresh, rate))
		add(row{
			figure: "PostgreSQL: refresh req/s (p50 / p99 / errors)", app: loadCell(pg.refresh),
			yardstick: "SQLite " + perSecond(refresh), ratio: times(pgRefresh / refresh), target: "reported",
			reported: true,
		})
		pgRaw := median(mapped(pg.rawRotation, rate))
		add(row{
			figure: "PostgreSQL: refresh vs raw rotation", app: perSecond(pgRefresh), yardstick: perSecond(pgRaw) + " in-process",
			ratio: times(pgRefresh / pgRaw), target: "reported", reported: true,
		})
		pgLogins, pgHash := median(mapped(pg.logins, rate)), median(pg.hashTimes)
		pgExpected := float64(runtime.NumCPU()) / pgHash.Seconds()
		add(row{
			figure: "PostgreSQL: logins vs cores ÷ hash", app: perSecond(pgLogins) + errorsNote(pg.logins),
			yardstick: fmt.Sprintf("%s = %d ÷ %s", perSecond(pgExpected), runtime.NumCPU(), ms(pgHash)),
			ratio:     times(pgLogins / pgExpected), target: "reported", reported: true,
		})
	}

	idle := median(mapped(m.starts, func(s startup) uint64 { return s.idleRSS }))
	add(row{
		figure: "idle RSS", app: mib(idle), yardstick: "limit " + mib(maxIdleRSS),
		ratio: times(float64(idle) / maxIdleRSS), target: "< " + mib(maxIdleRSS), ok: idle < maxIdleRSS,
	})
	healthy := median(mapped(m.starts, func(s startup) time.Duration { return s.toHealthy }))
	add(row{
		figure: "first /healthz after start", app: ms(healthy), yardstick: "limit " + ms(maxTimeToHealthy),
		ratio: times(float64(healthy) / float64(maxTimeToHealthy)), target: "< " + ms(maxTimeToHealthy),
		ok: healthy < maxTimeToHealthy,
	})
	return out
}

// meRow compares the app's GET /api/me throughput with the baseline's.
func meRow(figure string, app, base []Summary) row {
	ratio := median(mapped(app, rate)) / median(mapped(base, rate))
	return row{
		figure: figure, app: loadCell(app), yardstick: loadCell(base),
		ratio: times(ratio), target: "≥ " + times(minMeRatio),
		ok: ratio >= minMeRatio && failures(app) == 0,
	}
}

// roundRow is one line of the per-round table.
type roundRow struct {
	name   string
	values []string
}

func roundRows(m *measurements) []roundRow {
	loads := func(name string, ss []Summary) []roundRow {
		return []roundRow{
			{name + " req/s", mapped(ss, func(s Summary) string { return perSecond(s.Rate) })},
			{name + " p99", mapped(ss, func(s Summary) string { return ms(s.P99) })},
		}
	}
	out := slices.Concat(
		loads("me (cookie) app", m.meCookie), loads("me (cookie) baseline", m.meCookieBase),
		loads("me (bearer) app", m.meBearer), loads("me (bearer) baseline", m.meBearerBase),
		loads("refresh", m.refresh), loads("raw rotation", m.rawRotation),
	)
	out = append(out,
		roundRow{"logins/s", mapped(m.logins, func(s Summary) string { return perSecond(s.Rate) })},
		roundRow{"argon2id check", mapped(m.hashTimes, ms)},
		roundRow{"burst peak RSS", mapped(m.bursts, func(b burstResult) string { return mib(b.peak.RSS) })},
		roundRow{"idle RSS", mapped(m.starts, func(s startup) string { return mib(s.idleRSS) })},
		roundRow{"first /healthz", mapped(m.starts, func(s startup) string { return ms(s.toHealthy) })},
	)
	if pg := m.postgres; pg != nil {
		out = slices.Concat(out, loads("PostgreSQL: refresh", pg.refresh), loads("PostgreSQL: raw rotation", pg.rawRotation), []roundRow{
			{"PostgreSQL: logins/s", mapped(pg.logins, func(s Summary) string { return perSecond(s.Rate) })},
			{"PostgreSQL: argon2id check", mapped(pg.hashTimes, ms)},
		})
	}
	return out
}

// loadCell is a load figure with its latencies and, if any, its failures.
func loadCell(ss []Summary) string {
	return fmt.Sprintf("%s · p50 %s · p99 %s", perSecond(median(mapped(ss, rate))),
		ms(median(mapped(ss, func(s Summary) time.Duration { return s.P50 }))),
		ms(median(mapped(ss, p99)))) + errorsNote(ss)
}

func errorsNote(ss []Summary) string {
	if n := failures(ss); n > 0 {
		return fmt.Sprintf(" · %d errors", n)
	}
	return " · 0 errors"
}

func (s Summary) String() string {
	out := fmt.Sprintf("%s, p50 %s, p99 %s", perSecond(s.Rate), ms(s.P50), ms(s.P99))
	if s.Failures() > 0 {
		out += ", " + statusList(s.Statuses)
	}
	return out
}

// statusList reads like "200×310, 503×590".
func statusList(statuses map[int]int) string {
	var parts []string
	for _, status := range slices.Sorted(maps.Keys(statuses)) {
		name := strconv.Itoa(status)
		if status == noAnswer {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, statuses[status]))
	}
	return strings.Join(parts, ", ")
}

func onlyAllowed(statuses map[int]int) bool {
	for status := range statuses {
		if !slices.Contains(burstAllowed, status) {
			return false
		}
	}
	return true
}

// failures sums the failed operations of all rounds.
func failures(ss []Summary) int {
	n := 0
	for _, s := range ss {
		n += s.Failures()
	}
	return n
}

func rate(s Summary) float64        { return s.Rate }
func p99(s Summary) time.Duration   { return s.P99 }
func times(ratio float64) string    { return fmt.Sprintf("%.2f×", ratio) }
func mib(bytes uint64) string       { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }
func perSecond(rate float64) string { return thousands(rate) + "/s" }

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

// thousands writes a rate with separated thousands, and a decimal below 100.
func thousands(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	digits := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// median of the rounds' values; of an even number, the mean of the middle two.
func median[T ~int64 | ~uint64 | ~float64](values []T) T {
	s := slices.Sorted(slices.Values(values))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

func mapped[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if key, value, ok := strings.Cut(scanner.Text(), ":"); ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown CPU"
}

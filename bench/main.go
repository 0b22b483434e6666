// Command bench measures the server under load next to yardsticks (a bare
// Fiber app, the rotation transaction called in-process, the argon2 cost)
// and prints a Markdown table of ratios. From the repository:
//
//	go run ./bench            # 3 rounds of 5 s per figure, a few minutes
//	go run ./bench -quick     # 1 round of 2 s: a smoke run
//
// With a PostgreSQL database (-postgres URL, by default $TEST_POSTGRES_URL;
// `.ci/postgres start DIR` starts a throwaway one), the refresh and login
// figures are measured on it too, in the same run, in a schema of their
// own that is dropped at the end.
//
// The machines this runs on are shared and noisy, so each figure is
// measured in rounds that alternate between the app and its yardstick, and
// reported as the median of its rounds.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The shape of the load.
const (
	warmup             = time.Second // before each measured round, not counted
	meConnections      = 64          // the wrk -c64
	refreshClients     = 16
	sessionsPerClient  = 25 // 400 sessions in all, each client rotating its own
	loginClients       = 8  // each signing in to an account of its own
	burstClients       = 300
	accounts           = 50 // registered; the burst spreads over all of them
	setupWorkers       = 4  // sign-ins at once during setup: enough to keep the server's hashing slots (one per core) busy
	hashSamples        = 10
	memorySampleEvery  = 20 * time.Millisecond
	readyTimeout       = 30 * time.Second
	idleSettleDuration = time.Second // from the first 200 of /healthz to the idle RSS reading
)

type settings struct {
	rounds      int
	duration    time.Duration // measured time of one round
	postgresURL string        // "": no PostgreSQL figures
}

func main() {
	s := settings{}
	flag.IntVar(&s.rounds, "rounds", 3, "rounds per figure; medians are reported")
	flag.DurationVar(&s.duration, "duration", 5*time.Second, "measured time of one round")
	quick := flag.Bool("quick", false, "smoke run: 1 round of 2s")
	flag.StringVar(&s.postgresURL, "postgres", os.Getenv("TEST_POSTGRES_URL"), "a PostgreSQL URL: also measure refresh and logins on it")
	flag.Parse()
	if *quick {
		s.rounds, s.duration = 1, 2*time.Second
	}
	if s.rounds < 1 || s.duration <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1 and -duration positive")
		os.Exit(2)
	}
	m, err := run(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	printReport(os.Stdout, s, m)
}

func progress(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// measurements are the values of every round, reported by printReport.
type measurements struct {
	starts                 []startup
	meCookie, meCookieBase []Summary
	meBearer, meBearerBase []Summary
	refresh, rawRotation   []Summary
	logins                 []Summary
	hashTimes              []time.Duration
	bursts                 []burstResult
	postgres               *databaseFigures // nil without -postgres
}

// databaseFigures are the figures measured on PostgreSQL.
type databaseFigures struct {
	refresh, rawRotation []Summary
	logins               []Summary
	hashTimes            []time.Duration
}

type startup struct {
	toHealthy time.Duration // from the process start to the first 200 of /healthz
	idleRSS   uint64
}

type burstResult struct {
	peak     memory
	statuses map[int]int
}

// bench is the state the steps share.
type bench struct {
	settings
	tmp             string
	appBin, baseBin string
	app, baseline   *process
	api             *api
	refreshTokens   [][]string // per refresh client: its sessions' current refresh tokens
	m               measurements
}

func run(s settings) (_ *measurements, err error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "authstarter-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			progress("kept %s: the servers' logs and databases are there", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()
	progress("building the app and the baseline in %s", tmp)
	b := &bench{settings: s, tmp: tmp}
	if b.appBin, b.baseBin, err = buildBinaries(root, tmp); err != nil {
		return nil, err
	}
	defer b.stop()
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"start-up", b.measureStartup},
		{"setup", b.setup},
		{"GET /api/me with the access cookie", b.measureMeCookie},
		{"GET /api/me with a Bearer token", b.measureMeBearer},
		{"refresh", func() (err error) {
			b.m.refresh, b.m.rawRotation, err = b.measureRefresh(filepath.Join(b.tmp, "raw", "rotation.db"))
			return err
		}},
		{"logins", func() (err error) {
			b.m.logins, b.m.hashTimes, err = b.measureLogins()
			return err
		}},
		{"login burst", b.measureBurst},
		{"refresh and logins on PostgreSQL", b.measurePostgres},
	} {
		progress("== %s", step.name)
		if err := step.run(); err != nil {
			return nil, fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return &b.m, nil
}

func (b *bench) stop() {
	if b.api != nil {
		b.api.close()
	}
	for _, p := range []*process{b.app, b.baseline} {
		if p != nil {
			p.stop()
		}
	}
}

// measureStartup starts the app once per round, each time in a fresh folder
// as on a first start (it creates the database and the development key).
// The last one stays up for the load.
func (b *bench) measureStartup() error {
	for round := range b.rounds {
		if b.app != nil {
			b.app.stop()
		}
		dir := filepath.Join(b.tmp, "app-"+strconv.Itoa(round+1))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		// The working directory is the fresh folder: the development key goes to its data/.
		if b.app, err = startProcess("app", b.appBin, dir, port, appEnv(dir, port)); err != nil {
			return err
		}
		took, err := b.app.waitReady("/healthz", readyTimeout)
		if err != nil {
			return err
		}
		time.Sleep(idleSettleDuration)
		mem, err := b.app.memory()
		if err != nil {
			return err
		}
		b.m.starts = append(b.m.starts, startup{toHealthy: took, idleRSS: mem.RSS})
		progress("round %d/%d: first /healthz after %s, idle RSS %s", round+1, b.rounds, ms(took), mib(mem.RSS))
	}
	return nil
}

// appEnv configures the app for the benchmark: development mode (no SMTP
// needed) with production's log level, its database in dir, and no limits
// that hundreds of sign-ins from one address would hit.
func appEnv(dir string, port int) []string {
	return []string{
		"APP_ENV=development",
		"LOG_LEVEL=info",
		"PORT=" + strconv.Itoa(port),
		"DATABASE_URL=" + filepath.Join(dir, "app.db"),
		"REQUIRE_EMAIL_VERIFICATION=false",
		"AUTH_RATE_LIMIT_MAX=100000000",
		"LOGIN_MAX_FAILURES=100000000",
	}
}

// setup registers the accounts, starts the refresh test's sessions, and
// starts the baseline with the app's answer to GET /api/me.
func (b *bench) setup() error {
	if err := b.signUp(); err != nil {
		return err
	}
	name, value, err := b.api.signInForCookie(account(0))
	if err != nil {
		return err
	}
	me, err := b.api.me("Cookie", name+"="+value)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if b.baseline, err = startProcess("baseline", b.baseBin, b.tmp, port, nil, "-port", strconv.Itoa(port), "-body", string(me)); err != nil {
		return err
	}
	_, err = b.baseline.waitReady("/api/me", readyTimeout)
	return err
}

// signUp registers the accounts on b.app and starts the refresh test's
// sessions.
func (b *bench) signUp() error {
	b.api = newAPI(b.app.addr)
	progress("registering %d accounts", accounts)
	if err := parallel(accounts, setupWorkers, func(i int) error { return b.api.register(account(i)) }); err != nil {
		return err
	}
	progress("signing in %d sessions for the refresh test", refreshClients*sessionsPerClient)
	b.refreshTokens = make([][]string, refreshClients)
	for c := range b.refreshTokens {
		b.refreshTokens[c] = make([]string, sessionsPerClient)
	}
	return parallel(refreshClients*sessionsPerClient, setupWorkers, func(i int) error {
		t, err := b.api.signInForTokens(account(i % accounts))
		b.refreshTokens[i/sessionsPerClient][i%sessionsPerClient] = t.RefreshToken
		return err
	})
}

// measureMeCookie and measureMeBearer sign in just before their rounds, so
// that the access token is fresh (it lives 15 minutes).
func (b *bench) measureMeCookie() error {
	name, value, err := b.api.signInForCookie(account(0))
	if err != nil {
		return err
	}
	b.m.meCookie, b.m.meCookieBase, err = b.meRounds("Cookie", name+"="+value)
	return err
}

func (b *bench) measureMeBearer() error {
	t, err := b.api.signInForTokens(account(0))
	if err != nil {
		return err
	}
	b.m.meBearer, b.m.meBearerBase, err = b.meRounds("Authorization", "Bearer "+t.AccessToken)
	return err
}

// meRounds loads GET /api/me on the app and on the baseline in turns. The
// baseline gets the same request, credential included, so that both parse
// the same bytes.
func (b *bench) meRounds(header, value string) (app, baseline []Summary, err error) {
	load := func(p *process) func() (Summary, error) {
		uri := "http://" + p.addr + "/api/me"
		return func() (Summary, error) {
			return httpLoad(p.addr, meConnections, warmup, b.duration, exchange{build: func(_ int, req *fasthttp.Request) {
				req.SetRequestURI(uri)
				req.Header.Set(header, value)
			}}), nil
		}
	}
	return alternate(b.rounds, "app", load(b.app), "baseline", load(b.baseline))
}

// measureRefresh rotates the 400 sessions over HTTP, in turns with the raw
// rotation transaction in this process on a database of its own (rawURL).
func (b *bench) measureRefresh(rawURL string) (overHTTP, rawRotation []Summary, err error) {
	raw, err := newRawRotation(rawURL, refreshClients, sessionsPerClient)
	if err != nil {
		return nil, nil, err
	}
	defer raw.close()
	http := func() (Summary, error) {
		return httpLoad(b.app.addr, refreshClients, warmup, b.duration, refreshExchange(b.app.addr, b.refreshTokens)), nil
	}
	inProcess := func() (Summary, error) { return raw.run(warmup, b.duration), nil }
	overHTTP, rawRotation, err = alternate(b.rounds, "HTTP", http, "raw rotation", inProcess)
	if raw.firstErr != nil {
		progress("raw rotation: the first failure was: %v", raw.firstErr)
	}
	return overHTTP, rawRotation, err
}

// measureLogins signs in back to back with the password grant, in turns
// with timing one argon2id check in this process: the hashing limit says
// that at best cores ÷ hash time logins complete per second.
func (b *bench) measureLogins() ([]Summary, []time.Duration, error) {
	uri := "http://" + b.app.addr + "/api/auth/token"
	logins := func() (Summary, error) {
		return httpLoad(b.app.addr, loginClients, warmup, b.duration, exchange{build: func(w int, req *fasthttp.Request) {
			buildLogin(req, uri, account(w))
		}}), nil
	}
	hash := func() (time.Duration, error) { return hashTime(hashSamples) }
	return alternate(b.rounds, "logins", logins, "argon2id check", hash)
}

// measurePostgres measures refresh and logins again with the app on
// PostgreSQL: a second app process, on a schema of its own, with the same
// accounts and sessions. The SQLite app is stopped first, so that both do
// not share the cores.
func (b *bench) measurePostgres() error {
	if b.postgresURL == "" {
		progress("skipped: no PostgreSQL (-postgres URL, or TEST_POSTGRES_URL)")
		return nil
	}
	appURL, dropApp, err := newSchema(b.postgresURL)
	if err != nil {
		return err
	}
	defer dropApp()
	rawURL, dropRaw, err := newSchema(b.postgresURL)
	if err != nil {
		return err
	}
	defer dropRaw()
	b.stop()
	dir := filepath.Join(b.tmp, "app-postgres")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	env := append(appEnv(dir, port), "DATABASE_URL="+appURL) // the later one wins
	if b.app, err = startProcess("app-postgres", b.appBin, dir, port, env); err != nil {
		return err
	}
	if _, err := b.app.waitReady("/healthz", readyTimeout); err != nil {
		return err
	}
	if err := b.signUp(); err != nil {
		return err
	}
	pg := &databaseFigures{}
	if pg.refresh, pg.rawRotation, err = b.measureRefresh(rawURL); err != nil {
		return err
	}
	if pg.logins, pg.hashTimes, err = b.measureLogins(); err != nil {
		return err
	}
	b.m.postgres = pg
	return nil
}

// measureBurst sends 300 logins at once and samples the app's memory
// meanwhile. Requests that wait over 2 s for a hashing slot get 503.
func (b *bench) measureBurst() error {
	uri := "http://" + b.app.addr + "/api/auth/token"
	for round := range b.rounds {
		stop := b.app.sampleMemory(memorySampleEvery)
		statuses := burst(b.app.addr, burstClients, func(i int, req *fasthttp.Request) {
			buildLogin(req, uri, account(i%accounts))
		})
		peak := stop()
		b.m.bursts = append(b.m.bursts, burstResult{peak: peak, statuses: statuses})
		progress("round %d/%d: peak RSS %s (VmHWM %s), %s", round+1, b.rounds, mib(peak.RSS), mib(peak.HWM), statusList(statuses))
	}
	return nil
}

// alternate runs the app's measurement and its yardstick's in turns, rounds
// times, so that a disturbance lasting a while (another job on the
// machine) falls on both sides rather than on one.
func alternate[A, B any](rounds int, nameA string, a func() (A, error), nameB string, b func() (B, error)) ([]A, []B, error) {
	var as []A
	var bs []B
	for round := range rounds {
		x, err := a()
		if err != nil {
			return nil, nil, err
		}
		y, err := b()
		if err != nil {
			return nil, nil, err
		}
		progress("round %d/%d: %s %s · %s %s", round+1, rounds, nameA, describe(x), nameB, describe(y))
		as, bs = append(as, x), append(bs, y)
	}
	return as, bs, nil
}

// describe writes a round's value for the progress lines.
func describe(v any) string {
	if d, ok := v.(time.Duration); ok {
		return ms(d)
	}
	return fmt.Sprint(v)
}

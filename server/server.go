// Package server wires the configuration, the database, the services and
// the Fiber app together. main.go calls New and Listen; tests call New with
// a temporary database and a fake clock.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/authstarter/authstarter/admin"
	"github.com/authstarter/authstarter/clock"
	"log/slog"
	"sync"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/cluster"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/controllers"
	"github.com/authstarter/authstarter/federation"
	"github.com/authstarter/authstarter/limits"
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/mfa"
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/notes"
	"github.com/authstarter/authstarter/passkeys"
	"github.com/authstarter/authstarter/routes"
	"github.com/authstarter/authstarter/selfservice"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"gorm.io/gorm"
)

// Options are the dependencies a test may replace.
type Options struct {
	Logger *slog.Logger
	Mailer mail.Mailer      // default: SMTP if SMTP_HOST is set, else the development mailer
	Now    func() time.Time // default: time.Now
	// SMTPTLSConfig lets a test trust its own SMTP server's certificate.
	SMTPTLSConfig *tls.Config
	// RevocationSyncInterval is how often the revocations table is polled
	// for entries written by other instances (default 2s on SQLite; 500ms
	// on PostgreSQL, where it is the fallback for notifications lost with
	// the listening connection).
	RevocationSyncInterval time.Duration
	// CheckpointInterval is how often the database's WAL is copied back
	// into the database file, off the write path (default 1s; see
	// models.Checkpoint).
	CheckpointInterval time.Duration
	// Outbox tunes mail delivery (workers, retries, capacity).
	Outbox mail.OutboxOptions
	// GORMPlugins are added to the database handle before anything uses it
	// (tracing such as gorm.io/plugin/opentelemetry, or a test's query
	// counter): GORM's callbacks cannot be changed safely once queries run.
	GORMPlugins []gorm.Plugin
}

// Server is the assembled application.
type Server struct {
	App         *fiber.App
	DB          *gorm.DB
	Config      config.Config
	Revocations *auth.RevocationList
	// Accounts and Sessions are the services, for the command-line tasks
	// (package cli), which run them without serving.
	Accounts *auth.Accounts
	Sessions *auth.Sessions
	MFA      *mfa.Service
	Passkeys *passkeys.Service
	Admin    *admin.Service

	log     *slog.Logger
	outbox  *mail.Outbox
	prunes  []func(context.Context) error
	stop    context.CancelFunc
	done    sync.WaitGroup // the background work
	syncNow chan struct{}  // new revocations were announced (PostgreSQL)
}

// maxBodyBytes is the contract's body limit, enforced by middleware.MaxBody
// once the body is read. Fiber refuses bodies over maxReadBodyBytes before
// reading them and closes the connection, which a client may see as a
// reset rather than the 413: that limit is set high enough for every body a
// client plausibly sends by mistake (a 1 MiB upload), and low enough that
// a connection cannot make the server hold much (2 MiB at most, for at most
// ReadTimeout).
const (
	maxBodyBytes     = 64 << 10
	maxReadBodyBytes = 2 << 20
)

// New builds the server: it loads its keys (in development, creates them),
// opens and migrates the database, and loads the live revocations.
func New(cfg config.Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	now = clock.UTC(now) // the one clock: every service's and GORM's

	keys, secret, err := loadKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	transport, mailbox, err := mailTransport(cfg, opts, log)
	if err != nil {
		return nil, err
	}
	db, err := models.Open(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	// GORM's own timestamps (created_at, updated_at) on the server's clock
	// too, in UTC to the microsecond as the services store theirs: one
	// clock, which tests move.
	db.Config.NowFunc = now
	for _, plugin := range opts.GORMPlugins {
		if err := db.Use(plugin); err != nil {
			models.Close(db)
			return nil, fmt.Errorf("adding the GORM plugin %s: %w", plugin.Name(), err)
		}
	}

	access := auth.NewAccessTokens(keys, cfg.AppURL, cfg.JWTAudience, cfg.AccessTokenTTL, now)
	revocations := auth.NewRevocationList(db, cfg.AccessTokenTTL, now)
	if err := revocations.Sync(context.Background()); err != nil {
		models.Close(db)
		return nil, fmt.Errorf("loading revocations: %w", err)
	}
	var schema string // PostgreSQL: where the revocations are, named by their notifications
	if models.IsPostgres(db) {
		if schema, err = models.CurrentSchema(context.Background(), db); err != nil {
			models.Close(db)
			return nil, fmt.Errorf("reading the database schema: %w", err)
		}
		warnOnClockSkew(db, log)
	}
	ipCounter, loginCounter, prunes := attemptCounters(db, cfg, now)
	audit := auth.NewAudit(db, log, now)
	sessions, err := auth.NewSessions(auth.SessionDeps{DB: db, Access: access, Revocations: revocations, Audit: audit, Now: now}, auth.SessionConfig{
		RefreshTokenTTL:      cfg.RefreshTokenTTL,
		SessionMaxLifetime:   cfg.SessionMaxLifetime,
		RefreshReuseInterval: cfg.RefreshReuseInterval,
		SuccessorKey:         secret.Derive("authstarter refresh-token successor v1"),
	})
	if err != nil {
		models.Close(db)
		return nil, err
	}
	outbox := mail.NewOutbox(db, transport, log, now, opts.Outbox)
	passwords := auth.NewPasswordHasher(auth.Argon2Params{
		MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism,
	}, auth.HashLimit{Concurrency: cfg.PasswordHashConcurrency, MaxWait: cfg.PasswordHashMaxWait})
	logins := auth.NewThrottle(cfg.LoginMaxFailures, loginCounter, now)
	accounts := auth.NewAccounts(auth.AccountDeps{
		DB:          db,
		Passwords:   passwords,
		Logins:      logins,
		Sessions:    sessions,
		Revocations: revocations,
		Audit:       audit,
		Outbox:      outbox,
		Log:         log,
		Now:         now,
	}, auth.AccountConfig{
		AppURL:                   cfg.AppURL,
		EmailVerificationTTL:     cfg.EmailVerificationTTL,
		PasswordResetTTL:         cfg.PasswordResetTTL,
		RequireEmailVerification: cfg.RequireEmailVerification,
		PasswordPolicy:           auth.PasswordPolicy{MinLength: cfg.PasswordMinLength},
		LinkKey:                  secret.Derive("authstarter mail links v1"),
	})
	secondFactor, err := mfa.NewService(mfa.Deps{
		DB: db, Accounts: accounts, Sessions: sessions, Logins: logins, Audit: audit, Outbox: outbox, Log: log, Now: now,
	}, mfa.Config{
		AppURL:      cfg.AppURL,
		SealKey:     secret.Derive("authstarter totp secrets v1"),
		RecoveryKey: secret.Derive("authstarter recovery codes v1"),
		NoSetup:     cfg.IsProduction() && cfg.ServerSecretFile == "", // see serverSecret
	})
	if err != nil {
		models.Close(db)
		return nil, err
	}
	accounts.SetSecondFactor(secondFactor) // every sign-in asks it first
	passkeyService, err := passkeys.NewService(passkeys.Deps{
		DB: db, Accounts: accounts, Audit: audit, Outbox: outbox, Log: log, Now: now,
	}, passkeys.Config{AppURL: cfg.AppURL})
	if err != nil {
		models.Close(db)
		return nil, err
	}
	if !passkeyService.Available() {
		log.Warn("APP_URL's host is an IP address: passkeys are off, since WebAuthn needs a domain name (use http://localhost in development)", "app_url", cfg.AppURL)
	}
	// Nothing below fails: the outbox's workers and the database are
	// released by Shutdown.
	outbox.Start(accounts)                             // accounts writes the links of the mails
	profiles := auth.NewProfiles(db, revocations, now) // emptied by the revocation list's user changes
	adminService := admin.NewService(admin.Deps{DB: db, Sessions: sessions, Revocations: revocations, Audit: audit, Now: now})
	federationService := federation.NewService(federation.Deps{DB: db, Accounts: accounts, Audit: audit, Log: log, Now: now}, cfg.Providers, cfg.AppURL)
	selfService := selfservice.NewService(selfservice.Deps{
		DB: db, Sessions: sessions, Revocations: revocations, Audit: audit, Outbox: outbox, Now: now,
	}, selfservice.Config{AppURL: cfg.AppURL})

	app := fiber.New(fiber.Config{
		AppName: "authstarter",
		// Strings from the context (c.Params, c.Get, ...) are copies, not views
		// of buffers Fiber reuses for the next request: safe to keep, as the
		// revocation list does, and safe in code that users add.
		Immutable:             true,
		ErrorHandler:          middleware.ErrorHandler(log, cfg.CookieSecure),
		BodyLimit:             maxReadBodyBytes,
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		// Fiber believes X-Forwarded-Proto and X-Forwarded-Host (c.Protocol,
		// c.Hostname) only from these proxies. ProxyHeader stays unset, so
		// c.IP() is the direct peer: Fiber would take the left-most
		// X-Forwarded-For entry, which the client writes. Handlers read the
		// client's address with middleware.ClientIP.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          middleware.ProxyCIDRs(cfg.TrustedProxies),
	})
	app.Use(
		requestid.New(),
		middleware.ResolveClientIP(cfg.TrustedProxies),
		middleware.RequestLog(log),
		recover.New(), // inside the request log, so a panicking request is logged too
		middleware.SecurityHeaders(cfg.CookieSecure),
		middleware.MaxBody(maxBodyBytes),
	)
	// Before the refusals below, so that those answers are not cacheable either.
	app.Use("/api", middleware.NoStore())
	if len(cfg.CORSOrigins) > 0 {
		app.Use("/api", middleware.CORS(cfg.CORSOrigins))
	}
	app.Use(middleware.SameOrigin(cfg.AppURL, cfg.CORSOrigins), middleware.JSONOnly(routes.FormPaths...))

	cookies := controllers.NewCookies(cfg.CookieSecure, mfa.ChallengeTTL, passkeys.ChallengeTTL, federation.FlowTTL, now)
	var devMail *controllers.DevMailController
	if mailbox != nil {
		devMail = &controllers.DevMailController{Mailbox: mailbox}
	}
	var introspection *controllers.IntrospectionController
	if cfg.IntrospectionSecret != "" {
		introspection = &controllers.IntrospectionController{Tokens: access, Revocations: revocations}
	}
	routes.Register(app, routes.Handlers{
		Auth:     &controllers.AuthController{Accounts: accounts, Sessions: sessions, Cookies: cookies},
		Password: &controllers.PasswordController{Accounts: accounts, Cookies: cookies},
		Token:    &controllers.TokenController{Accounts: accounts, Sessions: sessions, MFA: secondFactor},
		Sessions: &controllers.SessionsController{Sessions: sessions, Cookies: cookies},
		Me:       &controllers.MeController{Profiles: profiles, Audit: audit},
		Meta:     &controllers.MetaController{Keys: keys},
		Notes:    &controllers.NotesController{Notes: notes.NewService(db, now)},
		Admin:    &controllers.AdminController{Admin: adminService},
		MFA:      &controllers.MFAController{MFA: secondFactor, Passkeys: passkeyService, Accounts: accounts, Cookies: cookies},
		Passkeys: &controllers.PasskeysController{Passkeys: passkeyService, Cookies: cookies},
		Account:  &controllers.AccountController{Accounts: accounts, SelfService: selfService, Cookies: cookies},
		Federation: &controllers.FederationController{
			Federation: federationService, Cookies: cookies, AppURL: cfg.AppURL, Log: log, ReauthWindow: cfg.ReauthWindow, Now: now,
		},

		DevMail:       devMail,
		RequireAuth:   middleware.RequireAuth(access, revocations, cookies.AccessName),
		RequireAdmin:  middleware.RequireRole(models.RoleAdmin),
		RequireRecent: middleware.RequireRecentAuth(cfg.ReauthWindow, now),
		OptionalAuth:  middleware.OptionalAuth(access, revocations, cookies.AccessName),
		AuthRateLimit: middleware.AuthRateLimit(cfg.AuthRateLimitMax, ipCounter, now),
		Introspection: introspection,
		ClientSecret:  middleware.RequireClientSecret(cfg.IntrospectionSecret),
	})

	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		App: app, DB: db, Config: cfg, Revocations: revocations, Accounts: accounts, Sessions: sessions, MFA: secondFactor, Passkeys: passkeyService, Admin: adminService, log: log, outbox: outbox,
		prunes: append(prunes, revocations.Prune, sessions.Prune, accounts.Prune, audit.Prune, outbox.Prune, secondFactor.Prune, passkeyService.Prune, federationService.Prune),
		stop:   stop, syncNow: make(chan struct{}, 1),
	}
	syncEvery := 2 * time.Second
	if models.IsPostgres(db) {
		syncEvery = 500 * time.Millisecond
		s.listen(ctx, cfg.DatabaseURL, schema)
	}
	s.done.Go(func() {
		s.maintain(ctx, orDefault(opts.RevocationSyncInterval, syncEvery), orDefault(opts.CheckpointInterval, time.Second))
	})
	s.done.Go(func() { s.housekeep(ctx) })
	return s, nil
}

// listen makes every revocation committed by another instance on the same
// PostgreSQL database apply here at once: the revocations table's trigger
// announces each commit (models.RevocationsChannel), and the announcement
// starts a Sync. The polling in maintain covers the time a lost listening
// connection takes to come back.
func (s *Server) listen(ctx context.Context, url, schema string) {
	notifications := cluster.Notifications{
		URL: url, Channel: models.RevocationsChannel, Payload: schema, Log: s.log,
		// Notifications arriving while a sync runs make one more sync,
		// not one each.
		OnNotify: func() {
			select {
			case s.syncNow <- struct{}{}:
			default:
			}
		},
	}
	s.done.Go(func() { notifications.Listen(ctx) })
}

// maxClockSkew is the most this machine's clock may differ from the
// database's before the start-up warns: instances verify each other's
// tokens with 1 s of leeway (the contract's), and time each other's
// refresh grace window.
const maxClockSkew = 500 * time.Millisecond

// warnOnClockSkew compares this machine's clock with PostgreSQL's, which
// every instance shares: instances whose clocks disagree refuse each
// other's fresh tokens ("issued in the future").
func warnOnClockSkew(db *gorm.DB, log *slog.Logger) {
	var dbNow time.Time
	before := time.Now()
	if err := db.Raw("SELECT now()").Row().Scan(&dbNow); err != nil {
		return // the first query of a request will say what is wrong
	}
	local := before.Add(time.Since(before) / 2)
	if skew := dbNow.Sub(local).Abs(); skew > maxClockSkew {
		log.Warn("this machine's clock differs from the database's: keep every instance's clock synchronized (NTP), or they refuse each other's fresh tokens",
			"skew", skew.Round(time.Millisecond), "allowed", maxClockSkew)
	}
}

// attemptCounters count the requests per IP and the failed logins per
// account: in memory on SQLite (one instance), in the database on
// PostgreSQL, where several instances count together. The prunes delete
// finished windows.
func attemptCounters(db *gorm.DB, cfg config.Config, now func() time.Time) (ip, login limits.Counter, prunes []func(context.Context) error) {
	if !models.IsPostgres(db) {
		return limits.NewMemory(cfg.AuthRateLimitWindow, now), limits.NewMemory(cfg.LoginFailureWindow, now), nil
	}
	ips := limits.NewShared(db, "ip", cfg.AuthRateLimitWindow, now)
	logins := limits.NewShared(db, "login", cfg.LoginFailureWindow, now)
	return limits.NewRefusing(ips, cfg.AuthRateLimitMax, now), logins,
		[]func(context.Context) error{ips.Prune} // one table: every namespace
}

// pruneEvery is how often expired rows are deleted, by one instance of
// those sharing the database.
const pruneEvery = time.Minute

// maintain keeps the revocation list up to date, off the request path: it
// polls the revocations table for entries written by other instances, and
// syncs at once when told of new ones (syncNow); on SQLite it also
// checkpoints the WAL.
func (s *Server) maintain(ctx context.Context, syncEvery, checkpointEvery time.Duration) {
	poll := time.NewTicker(syncEvery)
	checkpoint := time.NewTicker(checkpointEvery)
	defer poll.Stop()
	defer checkpoint.Stop()
	syncRevocations := func() {
		if err := s.Revocations.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("syncing revocations failed", "error", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-checkpoint.C:
			if err := models.Checkpoint(ctx, s.DB); err != nil && ctx.Err() == nil {
				s.log.Error("checkpointing the database failed", "error", err)
			}
		case <-poll.C:
			syncRevocations()
		case <-s.syncNow:
			syncRevocations()
		}
	}
}

// housekeep deletes what has expired, in its own loop so that a long prune
// never holds up the revocation list's sync. Every instance forgets the
// expired entries of its own memory; the rows are deleted by one of them.
func (s *Server) housekeep(ctx context.Context) {
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-prune.C:
			s.Revocations.ForgetExpired()
			due, err := cluster.TakeTurn(ctx, s.DB, "prune", pruneEvery)
			if err == nil && due {
				err = s.Prune(ctx)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("pruning expired rows failed", "error", err)
			}
		}
	}
}

func orDefault(d, fallback time.Duration) time.Duration {
	if d <= 0 {
		return fallback
	}
	return d
}

// Prune deletes expired revocations, sessions that ended more than a day
// ago (with their refresh tokens), spent links, delivered mail and security
// events past their retention.
func (s *Server) Prune(ctx context.Context) error {
	var errs []error
	for _, prune := range s.prunes {
		errs = append(errs, prune(ctx))
	}
	return errors.Join(errs...)
}

// Shutdown stops accepting requests, waits for those in flight and for the
// mail deliveries under way (up to timeout in all), stops the background
// work and closes the database. Undelivered mail stays in the outbox for the
// next start.
func (s *Server) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.App.ShutdownWithContext(ctx)
	if mailErr := s.outbox.Close(ctx); mailErr != nil {
		s.log.Warn("mail deliveries cut short at shutdown; they are retried at the next start", "error", mailErr)
	}
	s.stop()
	s.done.Wait()
	if cerr := models.Close(s.DB); err == nil {
		err = cerr
	}
	return err
}

// Settle delivers the mail that is due (see Outbox.Flush). Tests call it
// before asserting on the mail that requests left behind.
func (s *Server) Settle(ctx context.Context) error { return s.outbox.Flush(ctx) }

// mailTransport picks how mail leaves: the test's mailer, SMTP, or in
// development the log plus the mailbox page at /dev/mail (returned so that
// the route can show it). Production cannot get here without SMTP_HOST.
func mailTransport(cfg config.Config, opts Options, log *slog.Logger) (mail.Mailer, *mail.Mailbox, error) {
	switch {
	case opts.Mailer != nil:
		return opts.Mailer, nil, nil
	case cfg.SMTPHost != "":
		smtp, err := mail.NewSMTP(mail.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			From: cfg.SMTPFrom, TLS: mail.TLSMode(cfg.SMTPTLS), TLSConfig: opts.SMTPTLSConfig,
		})
		return smtp, nil, err
	default:
		mailbox := mail.NewMailbox(50)
		log.Info("no SMTP server configured: mail goes to the log and to the development mailbox", "url", cfg.AppURL+"/dev/mail")
		return mail.Tee(mail.LogMailer{Logger: log}, mailbox), mailbox, nil
	}
}

// loadKeys reads the key material: the key set that signs and verifies
// access tokens (the signing key, and the public keys of earlier ones still
// verifying after a rotation) and the server secret its other keys are
// derived from. A file that is missing or wrong stops the start.
func loadKeys(cfg config.Config, log *slog.Logger) (*auth.KeySet, auth.ServerSecret, error) {
	key, err := signingKey(cfg, log)
	if err != nil {
		return nil, auth.ServerSecret{}, err
	}
	previous, err := auth.LoadPreviousKeys(cfg.JWTPreviousPublicKeyFiles)
	if err != nil {
		return nil, auth.ServerSecret{}, err
	}
	if len(previous) > 0 {
		kids := make([]string, len(previous))
		for i, k := range previous {
			kids[i] = k.KID
		}
		log.Info("tokens of previous signing keys still verify until they expire", "kid", key.KID, "previous_kids", kids)
	}
	secret, err := serverSecret(cfg, key, log)
	if err != nil {
		return nil, auth.ServerSecret{}, err
	}
	return auth.NewKeySet(key, previous...), secret, nil
}

func signingKey(cfg config.Config, log *slog.Logger) (auth.SigningKey, error) {
	if cfg.JWTPrivateKeyFile != "" {
		return auth.LoadSigningKey(cfg.JWTPrivateKeyFile)
	}
	path := cfg.DevKeyFile()
	log.Info("using the development signing key (set JWT_PRIVATE_KEY_FILE in production)", "path", path)
	return auth.LoadOrCreateDevKey(path)
}

// serverSecret loads SERVER_SECRET_FILE. Without it, development generates
// one under the data folder, and production derives the keys from the
// signing key as it did before the variable existed, so that an upgrade
// voids no link of a mail being retried; a rotation of the signing key
// would, hence the warning. Sealed TOTP secrets must outlive rotations, so
// without the file production refuses to set TOTP up (mfa.Config.NoSetup).
func serverSecret(cfg config.Config, key auth.SigningKey, log *slog.Logger) (auth.ServerSecret, error) {
	switch {
	case cfg.ServerSecretFile != "":
		return auth.LoadServerSecret(cfg.ServerSecretFile)
	case cfg.IsProduction():
		log.Warn("SERVER_SECRET_FILE is not set: the keys of mailed links and refresh successors are derived from the signing key, " +
			"so a key rotation will void the links of mails whose delivery is being retried and sign out tabs whose refresh races the switch, " +
			"and two-step verification cannot be set up (its secrets would not survive a rotation); " +
			"set SERVER_SECRET_FILE once, before rotating (README: Key rotation)")
		return auth.SecretFromSigningKey(key), nil
	default:
		path := cfg.DevSecretFile()
		log.Info("using the development server secret (set SERVER_SECRET_FILE in production)", "path", path)
		return auth.LoadOrCreateDevSecret(path)
	}
}

// CheckKeys loads the signing key, the previous keys and the server secret
// that cfg names, as New would (in development, creating the ones under
// the data folder), for the check-config command.
func CheckKeys(cfg config.Config) error {
	_, _, err := loadKeys(cfg, slog.New(slog.DiscardHandler))
	return err
}

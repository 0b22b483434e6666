package main

// The in-process yardsticks: what the app's own building blocks cost
// without HTTP around them.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/models"
	"github.com/valyala/fasthttp"
	"gorm.io/gorm"
)

// defaults is the configuration the app runs with when nothing is set, so
// that the yardsticks use the same lifetimes and argon2 cost as the app.
func defaults() (config.Config, error) {
	return config.FromLookup(func(string) (string, bool) { return "", false })
}

// rawRotation rotates refresh tokens by calling auth.Sessions directly, on
// a database of its own: the rotation transaction alone, without HTTP,
// JSON, middleware or the load generator's share of the CPU.
type rawRotation struct {
	db       *gorm.DB
	sessions *auth.Sessions
	tokens   [][]string // per worker: the current refresh token of each of its sessions
	next     []int      // per worker: which of its sessions rotates next
	firstErr error      // the first failed rotation, for the report
	errOnce  sync.Once
}

var benchClient = auth.Client{IP: "127.0.0.1", UserAgent: "authstarter-bench"}

// newRawRotation opens dbPath and starts workers×perWorker sessions of one
// user, with the services wired as server.New wires them.
func newRawRotation(dbPath string, workers, perWorker int) (*rawRotation, error) {
	cfg, err := defaults()
	if err != nil {
		return nil, err
	}
	db, err := models.Open(dbPath)
	if err != nil {
		return nil, err
	}
	sessions, err := newSessions(db, cfg)
	if err != nil {
		models.Close(db)
		return nil, err
	}
	r := &rawRotation{db: db, sessions: sessions, tokens: make([][]string, workers), next: make([]int, workers)}
	user := models.User{ID: models.NewID(), Email: "raw@example.com", PasswordHash: "unused: nobody signs in", LastPasswordChange: time.Now().UTC()}
	if err := db.Create(&user).Error; err != nil {
		r.close()
		return nil, err
	}
	for w := range workers {
		for range perWorker {
			t, err := r.sessions.Start(context.Background(), user, []string{auth.AMRPassword}, benchClient)
			if err != nil {
				r.close()
				return nil, fmt.Errorf("starting a session: %w", err)
			}
			r.tokens[w] = append(r.tokens[w], t.RefreshToken)
		}
	}
	return r, nil
}

// newSessions builds auth.Sessions the way server.New does. The keys are
// throwaway ones: nothing outside this process sees the tokens.
func newSessions(db *gorm.DB, cfg config.Config) (*auth.Sessions, error) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	successorKey := make([]byte, 32)
	rand.Read(successorKey)
	access := auth.NewAccessTokens(auth.NewKeySet(auth.NewSigningKey(priv)), cfg.AppURL, cfg.JWTAudience, cfg.AccessTokenTTL, time.Now)
	revocations := auth.NewRevocationList(db, cfg.AccessTokenTTL, time.Now)
	audit := auth.NewAudit(db, slog.New(slog.DiscardHandler), time.Now)
	return auth.NewSessions(auth.SessionDeps{DB: db, Access: access, Revocations: revocations, Audit: audit, Now: time.Now}, auth.SessionConfig{
		RefreshTokenTTL:      cfg.RefreshTokenTTL,
		SessionMaxLifetime:   cfg.SessionMaxLifetime,
		RefreshReuseInterval: cfg.RefreshReuseInterval,
		SuccessorKey: successorKey,
	})
}

// step rotates the worker's next session, round robin, as a closedLoop step.
func (r *rawRotation) step(w int) int {
	i := r.next[w]
	r.next[w] = (i + 1) % len(r.tokens[w])
	t, err := r.sessions.Refresh(context.Background(), r.tokens[w][i], benchClient)
	if err != nil {
		r.errOnce.Do(func() { r.firstErr = err })
		return noAnswer
	}
	r.tokens[w][i] = t.RefreshToken
	return fasthttp.StatusOK
}

func (r *rawRotation) run(warmup, window time.Duration) Summary {
	return closedLoop(len(r.tokens), warmup, window, r.step)
}

func (r *rawRotation) close() { models.Close(r.db) }

// hashTime is the median time of one argon2id password check with the
// app's parameters, checks made one at a time.
func hashTime(samples int) (time.Duration, error) {
	cfg, err := defaults()
	if err != nil {
		return 0, err
	}
	h := auth.NewPasswordHasher(auth.Argon2Params{
		MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism,
	}, auth.HashLimit{Concurrency: 1, MaxWait: time.Minute})
	ctx := context.Background()
	encoded, err := h.Hash(ctx, password) // also the warm-up: the first hash allocates its memory
	if err != nil {
		return 0, err
	}
	times := make([]time.Duration, samples)
	for i := range times {
		start := time.Now()
		ok, err := h.Verify(ctx, password, encoded)
		if err != nil || !ok {
			return 0, fmt.Errorf("verifying a fresh hash: ok=%v err=%v", ok, err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

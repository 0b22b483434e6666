// Package limits counts attempts per key in fixed windows: requests per
// client IP (middleware.AuthRateLimit) and failed logins per account
// (auth.Throttle). A window starts at a key's first attempt and lasts a
// fixed time; the count then starts again from zero.
//
// Memory counts for one instance. Shared keeps the counts in the database,
// so that several instances on one PostgreSQL count together: a client
// cannot multiply its budget by the number of instances behind the load
// balancer. server.New picks Shared on PostgreSQL and Memory on SQLite
// (one instance, and no database write per attempt).
package limits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Window is the state of one key's current window.
type Window struct {
	Count int       // attempts in the window, the one just counted included
	Ends  time.Time // when the count starts again from zero
}

// Counter counts attempts. Every method is safe for concurrent use, and
// Hit counts exactly: of parallel attempts, each sees its own count.
type Counter interface {
	// Hit counts one attempt for key.
	Hit(ctx context.Context, key string) (Window, error)
	// Undo takes back one attempt of key's current window.
	Undo(ctx context.Context, key string) error
	// Reset forgets key's window.
	Reset(ctx context.Context, key string) error
}

// Memory is a Counter for one instance.
type Memory struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	windows map[string]*Window
	sweepAt time.Time
}

// NewMemory counts in windows of the given length.
func NewMemory(window time.Duration, now func() time.Time) *Memory {
	return &Memory{window: window, now: now, windows: map[string]*Window{}}
}

func (m *Memory) Hit(_ context.Context, key string) (Window, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	w := m.windows[key]
	if w == nil || !now.Before(w.Ends) {
		w = &Window{Ends: now.Add(m.window)}
		m.windows[key] = w
	}
	w.Count++
	return *w, nil
}

func (m *Memory) Undo(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.windows[key]; w != nil && w.Count > 0 {
		w.Count--
	}
	return nil
}

func (m *Memory) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.windows, key)
	return nil
}

// sweep drops finished windows once per window length, so that memory is
// bounded by the keys seen within one window.
func (m *Memory) sweep(now time.Time) {
	if now.Before(m.sweepAt) {
		return
	}
	for k, w := range m.windows {
		if !now.Before(w.Ends) {
			delete(m.windows, k)
		}
	}
	m.sweepAt = now.Add(m.window)
}

// Shared is a Counter in the counters table, for every instance on the
// database. Each Hit is one statement, an upsert that PostgreSQL runs
// atomically on the key's row, so that parallel attempts on several
// instances are each counted once.
type Shared struct {
	db        *gorm.DB
	namespace string // keeps the limits apart in the one table
	window    time.Duration
	now       func() time.Time
}

// NewShared counts in windows of the given length; namespace names the
// limit ("ip", "login").
func NewShared(db *gorm.DB, namespace string, window time.Duration, now func() time.Time) *Shared {
	return &Shared{db: db, namespace: namespace, window: window, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

// hitSQL starts a window or counts in the current one. (ON CONFLICT ... DO
// UPDATE with RETURNING: SQLite 3.35 or newer; every PostgreSQL this server
// supports.)
const hitSQL = `INSERT INTO counters (key, count, window_end) VALUES (?, 1, ?)
ON CONFLICT (key) DO UPDATE SET
	count = CASE WHEN counters.window_end > ? THEN counters.count + 1 ELSE 1 END,
	window_end = CASE WHEN counters.window_end > ? THEN counters.window_end ELSE excluded.window_end END
RETURNING count, window_end`

func (s *Shared) Hit(ctx context.Context, key string) (Window, error) {
	now := s.now()
	var row models.Counter
	err := s.db.WithContext(ctx).Raw(hitSQL, s.key(key), now.Add(s.window), now, now).Scan(&row).Error
	return Window{Count: row.Count, Ends: row.WindowEnd}, err
}

func (s *Shared) Undo(ctx context.Context, key string) error {
	return s.db.WithContext(ctx).Model(&models.Counter{}).
		Where("key = ? AND count > 0 AND window_end > ?", s.key(key), s.now()).
		Update("count", gorm.Expr("count - 1")).Error
}

func (s *Shared) Reset(ctx context.Context, key string) error {
	return s.db.WithContext(ctx).Where("key = ?", s.key(key)).Delete(&models.Counter{}).Error
}

// Prune deletes finished windows (of every namespace).
func (s *Shared) Prune(ctx context.Context) error {
	return s.db.WithContext(ctx).Where("window_end <= ?", s.now()).Delete(&models.Counter{}).Error
}

// key is what is stored: a hash, so that the table holds neither client
// addresses nor the email addresses that were tried.
func (s *Shared) key(key string) string {
	sum := sha256.Sum256([]byte(s.namespace + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// Refusing answers, from memory, the keys known to be over limit until
// their window ends, and asks counter for the others: a flood from one
// client costs the database one write per instance and window, not one per
// request. For limits that nothing resets early (the per-IP limit; not the
// login throttle, which a correct password resets).
type Refusing struct {
	counter Counter
	limit   int
	now     func() time.Time

	mu   sync.Mutex
	over map[string]Window
}

// NewRefusing wraps counter for a limit of limit attempts per window.
func NewRefusing(counter Counter, limit int, now func() time.Time) *Refusing {
	return &Refusing{counter: counter, limit: limit, now: now, over: map[string]Window{}}
}

// sweepAbove is the number of remembered keys past which the finished
// windows are dropped.
const sweepAbove = 1024

func (r *Refusing) Hit(ctx context.Context, key string) (Window, error) {
	now := r.now()
	r.mu.Lock()
	w, known := r.over[key]
	r.mu.Unlock()
	if known && now.Before(w.Ends) {
		return w, nil
	}
	w, err := r.counter.Hit(ctx, key)
	if err != nil || w.Count <= r.limit {
		return w, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.over) >= sweepAbove {
		for k, o := range r.over {
			if !now.Before(o.Ends) {
				delete(r.over, k)
			}
		}
	}
	r.over[key] = w
	return w, nil
}

func (r *Refusing) Undo(ctx context.Context, key string) error  { return r.counter.Undo(ctx, key) }
func (r *Refusing) Reset(ctx context.Context, key string) error { return r.counter.Reset(ctx, key) }

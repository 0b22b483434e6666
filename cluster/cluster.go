// Package cluster is what lets several instances of the server share one
// PostgreSQL database: background work that must run once (TakeTurn), and
// the notifications that tell every instance of a revocation at once
// (Listen). Counting attempts across instances is package limits.
package cluster

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authstarter/authstarter/models"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TakeTurn reports whether this instance should run the job called name
// now: the first instance to ask once the job is due moves its next run
// every on, and the others, asking meanwhile, get false. It is one
// statement, an upsert whose condition PostgreSQL re-checks on the row's
// newest version, so that of instances asking at once exactly one wins.
// A job is due a tenth of every early, so that a ticker of the same period
// that fires a moment early does not miss a whole period. Wall-clock time,
// not the server's injected clock: it paces real work.
func TakeTurn(ctx context.Context, db *gorm.DB, name string, every time.Duration) (bool, error) {
	now := time.Now().UTC()
	due := now.Add(every / 10)
	res := db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.Set{{Column: clause.Column{Name: "next_run_at"}, Value: now.Add(every)}},
		Where: clause.Where{Exprs: []clause.Expression{
			clause.Lte{Column: clause.Column{Table: "scheduled_jobs", Name: "next_run_at"}, Value: due},
		}},
	}).Create(&models.ScheduledJob{Name: name, NextRunAt: now.Add(every)})
	return res.RowsAffected == 1, res.Error
}

// Notifications calls OnNotify whenever a PostgreSQL notification with
// Payload arrives on Channel, and once after every (re)connection, for
// what may have been announced while no connection listened. OnNotify
// must return at once: notifications wait for it.
type Notifications struct {
	URL      string // the database's URL (DATABASE_URL)
	Channel  string
	Payload  string // others are another schema's: ignored
	OnNotify func()
	Log      *slog.Logger
}

// reconnectDelay is the wait before connecting again after the listening
// connection was lost.
const reconnectDelay = time.Second

// ApplicationName, followed by the schema, names the listening connection
// in pg_stat_activity.
const ApplicationName = "authstarter listener"

// Listen listens until ctx ends, on a connection of its own (a pooled
// connection cannot wait for notifications). A lost connection is logged
// and made again after reconnectDelay; meanwhile the caller's polling is
// what keeps the instance up to date.
func (n Notifications) Listen(ctx context.Context) {
	listener := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			cfg, err := pgx.ParseConfig(n.URL)
			if err != nil {
				return nil, err
			}
			cfg.RuntimeParams["application_name"] = ApplicationName + " " + n.Payload
			return pgx.ConnectConfig(ctx, cfg)
		},
		LogError: func(ctx context.Context, err error) {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				n.Log.Warn("listening for notifications failed; polling until connected again", "channel", n.Channel, "error", err)
			}
		},
		ReconnectDelay: reconnectDelay,
	}
	listener.Handle(n.Channel, handler(n))
	listener.Listen(ctx) // returns when ctx ends
}

// handler is a pgxlisten.BacklogHandler.
type handler Notifications

func (h handler) HandleNotification(_ context.Context, notification *pgconn.Notification, _ *pgx.Conn) error {
	if notification.Payload == h.Payload {
		h.OnNotify()
	}
	return nil
}

func (h handler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.OnNotify()
	return nil
}

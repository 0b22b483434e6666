package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/authstarter/authstarter/internal/inflight"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

var (
	// ErrOutboxFull means too many mails that anyone can trigger are
	// waiting: the request that wanted one more is refused (503) before it
	// is acknowledged, rather than acknowledged and dropped.
	ErrOutboxFull = errors.New("mail: outbox full")
	// ErrNotSent, from a Writer's Prepare, means there is nothing to send
	// after all (no such account, for instance).
	ErrNotSent = errors.New("mail: nothing to send")

	errLinkExpired = errors.New("mail: its link expired before it could be delivered")
)

// Writer supplies what only the domain knows about a stored mail: whether
// it still goes out, and its link.
type Writer interface {
	// Prepare runs once, in the transaction of a mail's first delivery
	// attempt: it returns ErrNotSent when there is nothing to send, and
	// otherwise stores what the link needs (its token's hash).
	Prepare(tx *gorm.DB, m models.OutboxMail) error
	// Link returns m's link, the same at every attempt, or "" to keep the
	// link stored with the mail. A link with a token is not stored: it is
	// derived again for each attempt.
	Link(m models.OutboxMail) string
}

// OutboxOptions tunes an Outbox. Zero values pick the defaults.
type OutboxOptions struct {
	Workers     int           // concurrent deliveries; 0 means 2
	MaxAttempts int           // attempts per mail, the first included; 0 means 10
	Backoff     time.Duration // first retry delay, doubled each time up to maxBackoff; 0 means 5s
	// Capacity is how many undelivered mails may wait before Add refuses
	// the kinds anyone can trigger; 0 means 10,000. It bounds the table
	// while the mail server is down and requests keep coming.
	Capacity int
	Poll     time.Duration // how often idle workers look for due mail; 0 means 1s
}

const (
	// A worker leases a mail for claimTimeout and gives an attempt
	// attemptTimeout: the other 10 s cover recording its outcome after it,
	// so that a lease does not run out while its attempt is going (a claim
	// that waited long for the database's write lock is renewed first). Only a worker that died leaves a mail to its lease;
	// the lease is short because it is how long such a mail waits after a
	// crash. (Should an attempt outlive its lease all the same, the outcome
	// is recorded by whoever holds the lease: see ClaimToken.)
	claimTimeout   = 20 * time.Second
	attemptTimeout = 10 * time.Second
	// maxBackoff caps the retry delay. With the defaults, the attempts span
	// about 40 minutes: a mail server down for that long loses nothing.
	maxBackoff = 30 * time.Minute
	// wakeDelay is how long a worker woken by Add waits before it looks:
	// the request that added the mail has committed by then, and the
	// delivery's database work does not slow that request's answer (a
	// difference that TestNoUserEnumeration would see for known addresses).
	wakeDelay = 50 * time.Millisecond
	// doneRetention is how long delivered mails stay in the table (for the
	// per-address limit, which looks back one minute, and for inspection).
	doneRetention = 24 * time.Hour
)

// Outbox is the transactional outbox for mail. A change and the mail that
// reports it are written in one transaction (Add), so an answer that says
// "done" never loses its mail, whatever happens to the process after it.
// Workers deliver the stored mails off the request path, with retries and
// backoff, and mark each sent, skipped or failed. Delivery is at least once:
// a worker that dies between the mail server's acceptance and the mark
// leaves the mail to be sent again when its lease runs out, under the same
// Message-ID, which lets receiving systems recognise the repeat.
//
// Leases (claimed_until, taken with a compare-and-swap) keep two workers,
// on one instance or several sharing the database, from sending one mail at
// once.
type Outbox struct {
	db        *gorm.DB
	transport Mailer
	writer    Writer
	log       *slog.Logger
	now       func() time.Time
	opts      OutboxOptions

	backlog  atomic.Int64     // undelivered mails: counted every Poll and when it reaches Capacity, plus Add's since
	counted  atomic.Int64     // when backlog was last counted (Unix nanoseconds)
	wake     chan struct{}    // a nudge to an idle worker (see nudge)
	rounds   inflight.Counter // workers' rounds running or nudged (Flush waits for them)
	inFlight inflight.Counter // deliveries under way

	ctx     context.Context // the deliveries' context; Close cancels it when it gives up
	cancel  context.CancelFunc
	stop    chan struct{} // closed by Close: workers finish their attempt and return
	workers sync.WaitGroup
	once    sync.Once
}

// NewOutbox returns an outbox on db that delivers through transport. Start
// starts its workers.
func NewOutbox(db *gorm.DB, transport Mailer, log *slog.Logger, now func() time.Time, opts OutboxOptions) *Outbox {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 5 * time.Second
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 10_000
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Outbox{
		// UTC: SQLite stores times as text with their offset, and compares
		// them as text.
		db: db, transport: transport, log: log, now: func() time.Time { return now().UTC() }, opts: opts,
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, stop: make(chan struct{}),
	}
}

// Start starts the workers; w writes the mails' links.
func (o *Outbox) Start(w Writer) {
	o.writer = w
	o.countBacklog()
	for range o.opts.Workers {
		o.workers.Go(o.work)
	}
	o.workers.Go(o.count)
}

// count refreshes the backlog every Poll, apart from the workers, which may
// be busy with a slow mail server for a while.
func (o *Outbox) count() {
	tick := time.NewTicker(o.opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
			o.countBacklog()
		}
	}
}

// Add stores a mail of kind to address to in tx, the transaction of the
// change it reports; it goes out once tx commits. A kind that anyone can
// trigger is refused with ErrOutboxFull while Capacity mails wait.
func (o *Outbox) Add(tx *gorm.DB, kind Kind, to string, d Data) error {
	_, err := o.AddMail(tx, kind, to, d)
	return err
}

// AddMail is Add, and returns the stored row: a link whose token must exist
// as soon as tx commits (an email change's, see package auth) is derived
// from the row's ID at once, rather than when the mail is first delivered.
func (o *Outbox) AddMail(tx *gorm.DB, kind Kind, to string, d Data) (models.OutboxMail, error) {
	spec, ok := kinds[kind]
	if !ok {
		return models.OutboxMail{}, errors.New("mail: unknown kind " + string(kind))
	}
	if spec.public && !o.reserve() {
		return models.OutboxMail{}, ErrOutboxFull
	} else if !spec.public {
		o.backlog.Add(1)
	}
	data, err := json.Marshal(d)
	if err != nil {
		return models.OutboxMail{}, err
	}
	now := o.now()
	row := models.OutboxMail{ID: models.NewID(), Kind: string(kind), Recipient: to, Data: string(data), CreatedAt: now, DueAt: now}
	if err := tx.Create(&row).Error; err != nil {
		o.backlog.Add(-1)
		return models.OutboxMail{}, err
	}
	o.nudge()
	return row, nil
}

// nudge wakes an idle worker, unless one is woken already. The round it
// starts is counted from here, so that Flush never sees the workers idle
// between a nudge and its round. After Close there is no worker to wake.
func (o *Outbox) nudge() {
	select {
	case <-o.stop:
		return
	default:
	}
	o.rounds.Add()
	select {
	case o.wake <- struct{}{}:
	default:
		o.rounds.Done()
	}
}

// work is one worker: it delivers what is due when woken by Add or by its
// ticker, until Close.
func (o *Outbox) work() {
	tick := time.NewTicker(o.opts.Poll)
	defer tick.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
			o.rounds.Add()
		case <-o.wake:
			select {
			case <-time.After(wakeDelay):
			case <-o.stop:
				o.rounds.Done()
				return
			}
		}
		if err := o.deliverDue(o.ctx, o.stop); err != nil && o.ctx.Err() == nil {
			o.log.Error("mail outbox: reading due mail failed", "error", err)
		}
		o.rounds.Done()
	}
}

// deliverDue delivers due mails one by one until none is left to claim, or
// stop is closed.
func (o *Outbox) deliverDue(ctx context.Context, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		row, err := o.claim(ctx)
		if err != nil || row == nil {
			return err
		}
		o.nudge() // another idle worker may take the next one meanwhile
		o.deliver(ctx, *row)
		o.inFlight.Done()
	}
}

// claim leases the oldest due mail that nobody holds, or returns nil. The
// lease is a compare-and-swap on claimed_until: of two workers reaching for
// one mail, one updates the row and the other moves on to the next. The new
// claim token names this lease in every later write.
func (o *Outbox) claim(ctx context.Context) (*models.OutboxMail, error) {
	now := o.now()
	db := o.db.WithContext(ctx)
	var ids []string
	err := db.Model(&models.OutboxMail{}).
		Scopes(claimable(now)).
		Order("due_at").Limit(o.opts.Workers+1).Pluck("id", &ids).Error
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		asked := time.Now()
		res := db.Model(&models.OutboxMail{}).
			Where("id = ? AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?)", id, now).
			Updates(map[string]any{"claimed_until": o.now().Add(claimTimeout), "claim_token": models.NewID(), "attempts": gorm.Expr("attempts + 1")})
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 1 {
			o.inFlight.Add()
			var row models.OutboxMail
			err := db.Take(&row, "id = ?", id).Error
			if err == nil && time.Since(asked) > time.Second {
				// The lease was computed before the wait for the lock.
				err = db.Model(&models.OutboxMail{}).Where("id = ? AND claim_token = ?", id, row.ClaimToken).
					Update("claimed_until", o.now().Add(claimTimeout)).Error
			}
			if err != nil {
				o.inFlight.Done() // the lease runs out and the mail is tried again
				return nil, err
			}
			return &row, nil
		}
	}
	return nil, nil
}

// claimable selects the mails that are due at now and that no worker holds.
func claimable(now time.Time) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where("done_at IS NULL AND due_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)", now, now)
	}
}

// deliver makes one attempt at a claimed mail and records its outcome. The
// logs name the recipient and kind only: the message holds a live link.
func (o *Outbox) deliver(ctx context.Context, row models.OutboxMail) {
	attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var err error
	if row.Attempts > o.opts.MaxAttempts { // the last attempts ended with their process
		err = errors.New("no attempt left")
	} else {
		err = o.attempt(attemptCtx, &row)
	}
	switch {
	case err == nil:
		o.finish(row, models.MailSent, nil)
	case errors.Is(err, ErrNotSent):
		o.finish(row, models.MailSkipped, nil)
	case errors.Is(err, errLinkExpired):
		o.log.Error("mail not delivered: its link expired during the retries", "id", row.ID, "to", row.Recipient, "kind", row.Kind, "attempts", row.Attempts)
		o.finish(row, models.MailFailed, err)
	case row.Attempts >= o.opts.MaxAttempts:
		o.log.Error("mail delivery failed, giving up", "id", row.ID, "to", row.Recipient, "kind", row.Kind, "attempts", row.Attempts, "error", err)
		o.finish(row, models.MailFailed, err)
	default:
		wait := o.backoff(row.Attempts)
		o.log.Warn("mail delivery failed, will retry", "id", row.ID, "to", row.Recipient, "kind", row.Kind, "attempt", row.Attempts, "error", err, "retry_in", wait)
		o.record(row, map[string]any{"due_at": o.now().Add(wait), "claimed_until": nil, "last_error": errorText(err)})
	}
}

// attempt writes the message of a claimed mail and sends it. A panic in
// the writer or the transport fails the attempt, not the process.
func (o *Outbox) attempt(ctx context.Context, row *models.OutboxMail) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("mail: panic: %v", p)
		}
	}()
	msg, err := o.write(ctx, row)
	if err != nil {
		return err
	}
	return o.transport.Send(ctx, msg)
}

// write returns the message of a stored mail. At the first attempt it asks
// the per-address limit and the Writer whether the mail still goes out, and
// marks it prepared in the same transaction.
func (o *Outbox) write(ctx context.Context, row *models.OutboxMail) (Message, error) {
	if row.PreparedAt == nil {
		err := o.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := o.limit(tx, *row); err != nil {
				return err
			}
			if err := o.writer.Prepare(tx, *row); err != nil {
				return err
			}
			now := o.now()
			row.PreparedAt = &now
			return tx.Model(&models.OutboxMail{}).Where("id = ?", row.ID).Update("prepared_at", now).Error
		})
		if err != nil {
			return Message{}, err
		}
	}
	var d Data
	if err := json.Unmarshal([]byte(row.Data), &d); err != nil {
		return Message{}, err
	}
	if d.ExpiresIn > 0 && !o.now().Before(row.PreparedAt.Add(d.ExpiresIn)) {
		return Message{}, errLinkExpired
	}
	if link := o.writer.Link(*row); link != "" {
		d.Link = link
	}
	msg, err := Compose(Kind(row.Kind), row.Recipient, d)
	msg.ID = row.ID
	return msg, err
}

// publicInterval is the least time between two mails of one kind to one
// address that anybody can trigger (verification, reset, the "someone tried
// to register" notice): the per-IP limit alone would let an attacker flood
// one inbox from many addresses. Each kind has its own limit, so that the
// notice, which an attacker can trigger at will, never uses up the minute of
// a reset link; and a mail skipped by the limit loses nothing, since one of
// its kind with a live link went out less than a minute before. (Mails that
// follow a proven action, such as "your password was changed", are not
// limited.) The limit reads the outbox itself, so it holds after a restart
// and for every instance on the database.
const publicInterval = time.Minute

// limit refuses a public mail when one of its kind to its recipient was
// prepared less than publicInterval ago and has not failed. Workers of
// several instances deciding on two mails to one address take turns
// (models.LockKey), or both would see none sent.
func (o *Outbox) limit(tx *gorm.DB, row models.OutboxMail) error {
	if spec, ok := kinds[Kind(row.Kind)]; !ok || !spec.public {
		return nil // an unknown kind fails in Compose
	}
	if err := models.LockKey(tx, "mail limit "+row.Kind+" "+row.Recipient); err != nil {
		return err
	}
	var recent int64
	err := tx.Model(&models.OutboxMail{}).
		Where("recipient = ? AND kind = ? AND prepared_at > ? AND id <> ? AND outcome <> ?",
			row.Recipient, row.Kind, o.now().Add(-publicInterval), row.ID, models.MailFailed).
		Count(&recent).Error
	if err == nil && recent > 0 {
		err = ErrNotSent
	}
	return err
}

// finish marks a mail done with its outcome.
func (o *Outbox) finish(row models.OutboxMail, outcome string, err error) {
	if o.record(row, map[string]any{"done_at": o.now(), "outcome": outcome, "claimed_until": nil, "last_error": errorText(err)}) {
		o.backlog.Add(-1)
	}
}

// record writes an attempt's result, if this worker still holds the lease
// (its claim token), and reports whether it did. It must not be lost to the
// attempt's timeout or to shutdown (the mail would be sent again), so it
// gets a context of its own.
func (o *Outbox) record(row models.OutboxMail, updates map[string]any) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := o.db.WithContext(ctx).Model(&models.OutboxMail{}).Where("id = ? AND claim_token = ?", row.ID, row.ClaimToken).Updates(updates)
	switch {
	case res.Error != nil:
		o.log.Error("mail outbox: recording an attempt failed; the mail is tried again when its lease ends", "id", row.ID, "error", res.Error)
	case res.RowsAffected == 0:
		// Not an error: the mail is in the other worker's hands (at least
		// once). It happens when a clock moves past the lease mid-attempt.
		o.log.Warn("mail outbox: an attempt outlived its lease; another worker has taken the mail over", "id", row.ID, "to", row.Recipient, "kind", row.Kind)
	}
	return res.Error == nil && res.RowsAffected == 1
}

// errorText is err's text, cut to fit the column (at a character boundary).
func errorText(err error) string {
	if err == nil {
		return ""
	}
	text := err.Error()
	for len(text) > 300 {
		_, size := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-size]
	}
	return text
}

// reserve takes a place in the backlog for one more mail, unless Capacity
// mails wait undelivered. Taking the place and checking it are one atomic
// step, so parallel requests cannot all pass a check made before any of
// them was counted. The backlog also counts Adds whose transaction may have
// rolled back since, so a backlog that looks full is counted again (at most
// every 100 ms) before a refusal.
func (o *Outbox) reserve() bool {
	limit := int64(o.opts.Capacity)
	if o.backlog.Add(1) <= limit {
		return true
	}
	o.backlog.Add(-1)
	if time.Since(time.Unix(0, o.counted.Load())) > 100*time.Millisecond {
		o.countBacklog()
		if o.backlog.Add(1) <= limit {
			return true
		}
		o.backlog.Add(-1)
	}
	return false
}

// countBacklog counts the undelivered mail of every instance.
func (o *Outbox) countBacklog() {
	var n int64
	if err := o.db.WithContext(o.ctx).Model(&models.OutboxMail{}).Where("done_at IS NULL").Count(&n).Error; err == nil {
		o.backlog.Store(n)
		o.counted.Store(time.Now().UnixNano())
	}
}

// backoff is the delay after the given failed attempt: Backoff doubled per
// attempt, capped, then jittered to a random point in its upper half so
// that mails that failed together (a server outage) do not retry in
// lockstep.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.opts.Backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Flush delivers every mail that is due now and that no other instance
// holds, and waits for the deliveries of this instance's workers, until
// none is left and the workers are idle, or ctx is done. Mails waiting for a
// retry are not due. Tests call it before asserting on the mail that
// requests left behind, or on the queries they made.
func (o *Outbox) Flush(ctx context.Context) error {
	for {
		if err := o.deliverDue(ctx, nil); err != nil {
			return err
		}
		if err := o.rounds.Wait(ctx); err != nil {
			return err
		}
		if err := o.inFlight.Wait(ctx); err != nil {
			return err
		}
		now := o.now()
		var due int64
		if err := o.db.WithContext(ctx).Model(&models.OutboxMail{}).
			Scopes(claimable(now)).
			Count(&due).Error; err != nil || due == 0 {
			return err
		}
	}
}

// Close stops the workers (each finishes the attempt it is making), then
// delivers what is due, until ctx ends: mail asked for just before a
// graceful shutdown goes out before the process ends. When ctx ends first,
// the attempts are cancelled; undelivered mail stays stored for the next
// start. Calling it again is safe.
func (o *Outbox) Close(ctx context.Context) error {
	defer o.cancel()
	o.once.Do(func() { close(o.stop) })
	stopped := make(chan struct{})
	go func() {
		o.workers.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		o.cancel()
		<-stopped
		return ctx.Err()
	}
	for { // nudges no worker will take
		select {
		case <-o.wake:
			o.rounds.Done()
			continue
		default:
		}
		break
	}
	return o.Flush(ctx)
}

// Prune deletes mails that were done more than a day ago.
func (o *Outbox) Prune(ctx context.Context) error {
	return o.db.WithContext(ctx).Where("done_at < ?", o.now().Add(-doneRetention)).Delete(&models.OutboxMail{}).Error
}

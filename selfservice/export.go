package selfservice

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"github.com/google/uuid"
	"gorm.io/gorm"
)

// ExportFormat names the shape of Export. A change that is not only an
// added field gets a new name, so that whoever reads an exported file knows
// which shape it holds.
const ExportFormat = "authstarter-export-v1"

// Export is a copy of everything stored about a user (GET /api/me/export),
// as the user downloads it: a versioned JSON document. It holds no secret
// and nothing that stands in for one: no password hash, no token or token
// hash, no TOTP secret, no recovery code.
//
// Left out: the revocation entries (a user id and a version, kept minutes),
// the login throttle's counters (keyed by a hash of the address, kept
// minutes), sign-in and passkey challenges and sign-ins at providers
// waiting for their answer (kept 5 to 10 minutes), the administrator's id on their actions (the user's own view
// does not show it either), and what a passkey is to the machines only:
// its credential id, public key, signature counter and attestation; and
// the provider's id of the user (an identity's subject).
type Export struct {
	Format     string    `json:"format"`
	ExportedAt time.Time `json:"exported_at"`
	Profile    Profile   `json:"profile"`
	// Sessions are every session stored: the live ones, and those that
	// ended less than a day ago.
	Sessions []Session `json:"sessions"`
	// SecurityEvents are every event kept (90 days), newest first.
	SecurityEvents     []Event       `json:"security_events"`
	Notes              []Note        `json:"notes"`
	SecondFactors      SecondFactors `json:"second_factors"`
	Passkeys           []Passkey     `json:"passkeys"`
	Identities         []Identity    `json:"identities"`
	PendingEmailChange *EmailChange  `json:"pending_email_change"`
	Mail               []MailRecord  `json:"mail"`
}

// Profile is the user's row.
type Profile struct {
	ID                 string     `json:"id"`
	Email              string     `json:"email"`
	Name               string     `json:"name"`
	EmailVerifiedAt    *time.Time `json:"email_verified_at"`
	Role               string     `json:"role"`
	DisabledAt         *time.Time `json:"disabled_at"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	LastPasswordChange time.Time  `json:"last_password_change"`
}

// Session is one signed-in device. SeenFrom sums up its refresh tokens,
// each stored with the address and user agent it was issued to: one entry
// per address and agent, rather than a line per refresh (thousands, for a
// tab left open for weeks).
type Session struct {
	ID          string     `json:"id"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  time.Time  `json:"last_used_at"`
	ExpiresAt   time.Time  `json:"expires_at"` // the absolute end
	EndedAt     *time.Time `json:"ended_at"`   // signed out or revoked
	IP          string     `json:"ip"`
	UserAgent   string     `json:"user_agent"`
	AuthTime    *time.Time `json:"auth_time"`
	AuthMethods []string   `json:"auth_methods"` // amr
	SeenFrom    []Seen     `json:"seen_from"`
}

// Seen is an address and user agent that a session's tokens were issued to.
type Seen struct {
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Tokens    int       `json:"tokens"`
}

// Event is one security event.
type Event struct {
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	SessionID string    `json:"session_id"`
	Detail    string    `json:"detail"`
}

// Note is one of the user's notes.
type Note struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SecondFactors say which factors the user has and when they were set up
// and used, never what they are.
type SecondFactors struct {
	TOTP          TOTP          `json:"totp"`
	RecoveryCodes RecoveryCodes `json:"recovery_codes"`
}

// TOTP is the authenticator app.
type TOTP struct {
	Enabled      bool       `json:"enabled"`
	ConfirmedAt  *time.Time `json:"confirmed_at"`
	SetupPending bool       `json:"setup_pending"` // a set-up started and not confirmed
}

// RecoveryCodes counts the recovery codes.
type RecoveryCodes struct {
	Left      int         `json:"left"`
	CreatedAt *time.Time  `json:"created_at"`
	UsedAt    []time.Time `json:"used_at"`
}

// Passkey is one of the user's passkeys, as the user knows it: its name,
// when it was added and last used, the authenticator's model (AAGUID, all
// zeros when the authenticator does not say), whether it is synced, and
// how the browser reaches it.
type Passkey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	AAGUID     string     `json:"aaguid"`
	Synced     bool       `json:"synced"`
	Transports []string   `json:"transports"`
}

// Identity is an account at another provider linked to this one.
type Identity struct {
	Provider   string     `json:"provider"`
	Email      string     `json:"email"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// EmailChange is an email change waiting for its link.
type EmailChange struct {
	NewEmail    string    `json:"new_email"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// MailRecord is a mail to the user's address still in the outbox (sent
// ones stay a day).
type MailRecord struct {
	Kind      string     `json:"kind"`
	CreatedAt time.Time  `json:"created_at"`
	DoneAt    *time.Time `json:"done_at"`
	Outcome   string     `json:"outcome"` // sent, skipped, failed; "" while waiting
}

// Export returns everything stored about a user. The tables are read one
// after the other, outside a transaction: on SQLite a transaction would hold
// the one writer connection, and every sign-in would wait for the export.
func (s *Service) Export(ctx context.Context, userID string) (Export, error) {
	db := s.db.WithContext(ctx) // a new session: each query below starts afresh
	now := s.now()
	var user models.User
	if err := db.Take(&user, "id = ?", userID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Export{}, auth.ErrUserNotFound
		}
		return Export{}, err
	}
	out := Export{
		Format: ExportFormat, ExportedAt: now,
		Profile: Profile{
			ID: user.ID, Email: user.Email, Name: user.Name, EmailVerifiedAt: utcPtr(user.EmailVerifiedAt), Role: user.Role,
			DisabledAt: utcPtr(user.DisabledAt), CreatedAt: user.CreatedAt.UTC(), UpdatedAt: user.UpdatedAt.UTC(),
			LastPasswordChange: user.LastPasswordChange.UTC(),
		},
	}
	var err error
	if out.Sessions, err = exportSessions(db, user.ID); err != nil {
		return Export{}, err
	}
	if out.SecurityEvents, err = exportEvents(db, user.ID); err != nil {
		return Export{}, err
	}
	if out.Notes, err = exportNotes(db, user.ID); err != nil {
		return Export{}, err
	}
	if out.SecondFactors, err = exportSecondFactors(db, user.ID); err != nil {
		return Export{}, err
	}
	if out.Passkeys, err = exportPasskeys(db, user.ID); err != nil {
		return Export{}, err
	}
	if out.Identities, err = exportIdentities(db, user.ID); err != nil {
		return Export{}, err
	}
	if out.PendingEmailChange, err = pendingEmailChange(db, user.ID, now); err != nil {
		return Export{}, err
	}
	if out.Mail, err = exportMail(db, user.Email); err != nil {
		return Export{}, err
	}
	return out, nil
}

func exportSessions(db *gorm.DB, userID string) ([]Session, error) {
	var rows []models.Session
	if err := db.Where("user_id = ?", userID).Order("created_at DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	var tokens []models.RefreshToken
	err := db.Select("session_id", "ip", "user_agent", "created_at").
		Where("session_id IN (?)", db.Model(&models.Session{}).Select("id").Where("user_id = ?", userID)).
		Order("created_at").Find(&tokens).Error
	if err != nil {
		return nil, err
	}
	out := make([]Session, len(rows))
	index := map[string]*Session{}
	for i, r := range rows {
		out[i] = Session{
			ID: r.ID, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), EndedAt: utcPtr(r.RevokedAt),
			IP: r.IP, UserAgent: r.UserAgent, AuthTime: utcPtr(r.AuthTime), AuthMethods: strings.Fields(r.AMR), SeenFrom: []Seen{},
		}
		index[r.ID] = &out[i]
	}
	for _, t := range tokens { // oldest first
		session := index[t.SessionID]
		at := t.CreatedAt.UTC()
		i := slices.IndexFunc(session.SeenFrom, func(s Seen) bool { return s.IP == t.IP && s.UserAgent == t.UserAgent })
		if i < 0 {
			session.SeenFrom = append(session.SeenFrom, Seen{IP: t.IP, UserAgent: t.UserAgent, First: at})
			i = len(session.SeenFrom) - 1
		}
		session.SeenFrom[i].Last = at
		session.SeenFrom[i].Tokens++
	}
	return out, nil
}

func exportEvents(db *gorm.DB, userID string) ([]Event, error) {
	var rows []models.SecurityEvent
	if err := db.Where("user_id = ?", userID).Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Event, len(rows))
	for i, e := range rows {
		out[i] = Event{Type: e.Type, CreatedAt: e.CreatedAt.UTC(), IP: e.IP, UserAgent: e.UserAgent, SessionID: e.SessionID, Detail: e.Detail}
	}
	return out, nil
}

func exportNotes(db *gorm.DB, userID string) ([]Note, error) {
	var rows []models.Note
	if err := db.Where("user_id = ?", userID).Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Note, len(rows))
	for i, n := range rows {
		out[i] = Note{ID: n.ID, Title: n.Title, Body: n.Body, CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC()}
	}
	return out, nil
}

// exportSecondFactors reads the second factors' rows for their state and
// dates only: the sealed secrets and the codes' hashes stay in the database.
func exportSecondFactors(db *gorm.DB, userID string) (SecondFactors, error) {
	out := SecondFactors{RecoveryCodes: RecoveryCodes{UsedAt: []time.Time{}}}
	var totp struct {
		ConfirmedAt           *time.Time
		Enabled, SetupPending bool
	}
	err := db.Model(&models.TOTPFactor{}).
		Select("confirmed_at, secret IS NOT NULL AS enabled, pending_secret IS NOT NULL AS setup_pending").
		Where("user_id = ?", userID).Take(&totp).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
	case err != nil:
		return out, err
	default:
		out.TOTP = TOTP{Enabled: totp.Enabled, ConfirmedAt: utcPtr(totp.ConfirmedAt), SetupPending: totp.SetupPending}
	}
	var codes []models.RecoveryCode
	if err := db.Select("used_at", "created_at").Where("user_id = ?", userID).Order("created_at").Find(&codes).Error; err != nil {
		return out, err
	}
	for _, c := range codes {
		out.RecoveryCodes.CreatedAt = utcPtr(&c.CreatedAt)
		if c.UsedAt == nil {
			out.RecoveryCodes.Left++
		} else {
			out.RecoveryCodes.UsedAt = append(out.RecoveryCodes.UsedAt, c.UsedAt.UTC())
		}
	}
	return out, nil
}

func exportPasskeys(db *gorm.DB, userID string) ([]Passkey, error) {
	var rows []models.Passkey
	if err := db.Where("user_id = ?", userID).Order("created_at").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Passkey, len(rows))
	for i, p := range rows {
		out[i] = Passkey{
			ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), LastUsedAt: utcPtr(p.LastUsedAt),
			AAGUID: aaguid(p.AAGUID), Synced: p.BackupState, Transports: strings.Fields(p.Transports),
		}
	}
	return out, nil
}

func exportIdentities(db *gorm.DB, userID string) ([]Identity, error) {
	var rows []models.Identity
	if err := db.Where("user_id = ?", userID).Order("created_at").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Identity, len(rows))
	for i, id := range rows {
		out[i] = Identity{Provider: id.Provider, Email: id.Email, CreatedAt: id.CreatedAt.UTC(), LastUsedAt: utcPtr(id.LastUsedAt)}
	}
	return out, nil
}

// aaguid writes an authenticator's AAGUID as the UUID it is.
func aaguid(b []byte) string {
	id, err := uuid.FromBytes(b)
	if err != nil {
		return ""
	}
	return id.String()
}

func pendingEmailChange(db *gorm.DB, userID string, now time.Time) (*EmailChange, error) {
	var change models.OneTimeToken
	err := db.Where("user_id = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", userID, models.PurposeEmailChange, now).
		Order("created_at DESC").Take(&change).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &EmailChange{NewEmail: change.NewEmail, RequestedAt: change.CreatedAt.UTC(), ExpiresAt: change.ExpiresAt.UTC()}, nil
}

func exportMail(db *gorm.DB, email string) ([]MailRecord, error) {
	var rows []models.OutboxMail
	if err := db.Select("kind", "created_at", "done_at", "outcome").Where("recipient = ?", email).Order("created_at DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]MailRecord, len(rows))
	for i, m := range rows {
		out[i] = MailRecord{Kind: m.Kind, CreatedAt: m.CreatedAt.UTC(), DoneAt: utcPtr(m.DoneAt), Outcome: m.Outcome}
	}
	return out, nil
}

// utcPtr is t in UTC, or nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

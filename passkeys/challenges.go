package passkeys

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/authstarter/authstarter/models"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"
)

// A challenge is the random value the authenticator signs, kept here
// between the options and the answer with what the ceremony asked for
// (go-webauthn's SessionData, as JSON). The client never holds anything
// the server must trust: an answer is checked against the stored ceremony.
//
// Each challenge is taken once (takeChallenge), by the first answer,
// right or wrong: a replayed answer, or a second try, needs new options.
// It lives ChallengeTTL.

// storeChallenge keeps ceremony in row, in tx, for ChallengeTTL, and
// returns the row with its id.
func (s *Service) storeChallenge(tx *gorm.DB, row models.PasskeyChallenge, ceremony *webauthn.SessionData) (models.PasskeyChallenge, error) {
	data, err := json.Marshal(ceremony)
	if err != nil {
		return row, err
	}
	now := s.now()
	row.ID, row.Ceremony, row.ExpiresAt, row.CreatedAt = models.NewID(), string(data), now.Add(ChallengeTTL), now
	return row, tx.Create(&row).Error
}

// takeChallenge spends the live challenge of purpose that query and args
// find, and returns its ceremony; found is false when there is none (never
// issued, expired, or taken already).
func (s *Service) takeChallenge(ctx context.Context, purpose, query string, args ...any) (ceremony webauthn.SessionData, found bool, err error) {
	now := s.now()
	db := s.db.WithContext(ctx)
	var row models.PasskeyChallenge
	err = db.Where("purpose = ? AND used_at IS NULL AND expires_at > ?", purpose, now).Where(query, args...).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ceremony, false, nil
	}
	if err != nil {
		return ceremony, false, err
	}
	// Compare-and-swap: of two answers at once (a replay racing the real
	// one), one takes the challenge; the other finds it used. One
	// conditional UPDATE, so it holds on PostgreSQL's concurrent
	// transactions as on SQLite's single writer.
	res := db.Model(&models.PasskeyChallenge{}).Where("id = ? AND used_at IS NULL", row.ID).Update("used_at", now)
	if res.Error != nil || res.RowsAffected != 1 {
		return ceremony, false, res.Error
	}
	return ceremony, true, json.Unmarshal([]byte(row.Ceremony), &ceremony)
}

// Prune deletes the challenges that have expired: no answer can take them.
func (s *Service) Prune(ctx context.Context) error {
	return s.db.WithContext(ctx).Where("expires_at < ?", s.now()).Delete(&models.PasskeyChallenge{}).Error
}

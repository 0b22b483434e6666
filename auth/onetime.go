package auth

import (
	"time"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// issueOneTimeToken stores the hash of a new single-use token for a user and
// purpose and voids the user's older unused tokens of that purpose: only the
// newest link works.
func issueOneTimeToken(tx *gorm.DB, userID, purpose, token string, now time.Time, ttl time.Duration) error {
	if err := voidOneTimeTokens(tx, userID, purpose, now); err != nil {
		return err
	}
	row := models.OneTimeToken{UserID: userID, Purpose: purpose, TokenHash: HashToken(token), ExpiresAt: now.Add(ttl), CreatedAt: now}
	return tx.Create(&row).Error
}

// voidOneTimeTokens spends every unused token of a user and purpose.
func voidOneTimeTokens(tx *gorm.DB, userID, purpose string, now time.Time) error {
	return tx.Model(&models.OneTimeToken{}).
		Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, purpose).
		Update("used_at", now).Error
}

// findOneTimeToken returns the row of a token that is valid now: known for
// this purpose, unused and unexpired. Only the hash is looked up.
func findOneTimeToken(db *gorm.DB, token, purpose string, now time.Time) (models.OneTimeToken, error) {
	var row models.OneTimeToken
	if !plausibleToken(token) {
		return row, ErrInvalidOneTimeToken
	}
	if err := db.Where("token_hash = ? AND purpose = ?", HashToken(token), purpose).Take(&row).Error; err != nil {
		return row, notFoundAs(err, ErrInvalidOneTimeToken)
	}
	if row.UsedAt != nil || !now.Before(row.ExpiresAt) {
		return row, ErrInvalidOneTimeToken
	}
	return row, nil
}

// consumeOneTimeToken marks a valid token used, exactly once: the
// compare-and-swap on used_at makes two parallel requests with the same
// token see one success.
func consumeOneTimeToken(tx *gorm.DB, token, purpose string, now time.Time) (models.OneTimeToken, error) {
	row, err := findOneTimeToken(tx, token, purpose, now)
	if err != nil {
		return row, err
	}
	res := tx.Model(&models.OneTimeToken{}).Where("id = ? AND used_at IS NULL", row.ID).Update("used_at", now)
	if res.Error != nil {
		return row, res.Error
	}
	if res.RowsAffected != 1 {
		return row, ErrInvalidOneTimeToken
	}
	return row, nil
}

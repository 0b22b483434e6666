package federation

import (
	"context"
	"errors"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/models"
	"golang.org/x/oauth2"
	"gorm.io/gorm"
)

// flowSecrets are the values of a flow that are not stored as they are.
type flowSecrets struct {
	state        string // goes to the provider and comes back; stored hashed
	browserToken string // the cookie's value; stored hashed
}

// newFlow makes the values of a new sign-in at provider: each from
// crypto/rand, 256 bits (the verifier: 32 bytes, RFC 7636 §4.1).
func newFlow(provider string, now time.Time) (models.OAuthFlow, flowSecrets) {
	secrets := flowSecrets{state: auth.NewOpaqueToken(), browserToken: auth.NewOpaqueToken()}
	return models.OAuthFlow{
		ID: models.NewID(), Provider: provider,
		BrowserHash: auth.HashToken(secrets.browserToken), StateHash: auth.HashToken(secrets.state),
		Nonce: auth.NewOpaqueToken(), Verifier: oauth2.GenerateVerifier(),
		ExpiresAt: now.Add(FlowTTL), CreatedAt: now,
	}, secrets
}

// takeFlow spends the live flow of provider that browserToken names.
// ErrInvalidState when there is none: never started in this browser,
// expired, or taken already (a replayed callback).
func (s *Service) takeFlow(ctx context.Context, provider, browserToken string) (models.OAuthFlow, error) {
	var flow models.OAuthFlow
	if browserToken == "" {
		return flow, ErrInvalidState
	}
	now := s.now()
	db := s.db.WithContext(ctx)
	err := db.Where("browser_hash = ? AND provider = ? AND used_at IS NULL AND expires_at > ?", auth.HashToken(browserToken), provider, now).Take(&flow).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return flow, ErrInvalidState
	}
	if err != nil {
		return flow, err
	}
	// Compare-and-swap: of two callbacks at once, one takes the flow.
	res := db.Model(&models.OAuthFlow{}).Where("id = ? AND used_at IS NULL", flow.ID).Update("used_at", now)
	if res.Error != nil {
		return flow, res.Error
	}
	if res.RowsAffected != 1 {
		return flow, ErrInvalidState
	}
	return flow, nil
}

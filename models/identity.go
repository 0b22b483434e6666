package models

import "time"

// Identity links an account to its account at another provider (package
// federation): signing in there signs the user in here. Provider and
// Subject (the provider's stable id of the user, never its email, which
// can change hands) name it; an identity belongs to one account.
type Identity struct {
	ID       string `gorm:"primaryKey;size:36"`
	UserID   string `gorm:"index;not null;size:36"`
	User     User   `gorm:"constraint:OnDelete:CASCADE"` // deleted with the account
	Provider string `gorm:"uniqueIndex:idx_identities_provider_subject;not null;size:32"`
	Subject  string `gorm:"uniqueIndex:idx_identities_provider_subject;not null;size:255"`
	// Email is the address the provider gave at the last sign-in, shown
	// in the identity list; it proves nothing later.
	Email      string    `gorm:"not null;default:'';size:254"`
	CreatedAt  time.Time `gorm:"not null"`
	LastUsedAt *time.Time
}

// OAuthFlow is a sign-in started at a provider and waiting for the
// browser's return to the callback. It holds what the callback checks
// against (state, nonce, the PKCE verifier) and is bound to the browser
// that started it: the cookie's token, of which only the SHA-256 is here.
// Single use, and short-lived (federation.FlowTTL).
type OAuthFlow struct {
	ID          string `gorm:"primaryKey;size:36"`
	BrowserHash string `gorm:"uniqueIndex;not null;size:64"`
	Provider    string `gorm:"not null;size:32"`
	StateHash   string `gorm:"not null;size:64"`  // SHA-256 of the state sent to the provider
	Nonce       string `gorm:"not null;size:64"`  // the ID token must carry it back
	Verifier    string `gorm:"not null;size:128"` // PKCE code_verifier; its S256 went to the provider
	// LinkUserID and LinkSessionID: a signed-in user linking a provider
	// from the dashboard; the callback links to this account only, and
	// only while this session lives.
	LinkUserID    *string   `gorm:"size:36"`
	User          *User     `gorm:"foreignKey:LinkUserID;constraint:OnDelete:CASCADE"`
	LinkSessionID *string   `gorm:"size:36"`
	ExpiresAt     time.Time `gorm:"index;not null"`
	UsedAt        *time.Time
	CreatedAt     time.Time `gorm:"not null"`
}

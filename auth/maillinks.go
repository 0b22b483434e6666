package auth

import (
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Accounts is the outbox's mail.Writer: the links in verification and reset
// mails are made when the mail is delivered, not when it is requested, so
// that the request does the same work for every address.

// linkPurposes are the mails that carry a single-use link, with the purpose
// of its token.
var linkPurposes = map[mail.Kind]string{
	mail.Verification:  models.PurposeEmailVerification,
	mail.PasswordReset: models.PurposePasswordReset,
	mail.EmailChange:   models.PurposeEmailChange,
}

// linkPaths are the frontend pages that links in emails open.
var linkPaths = map[string]string{
	models.PurposeEmailVerification: "/verify-email",
	models.PurposePasswordReset:     "/reset-password",
	models.PurposeEmailChange:       "/confirm-email-change",
}

// Prepare runs at a link mail's first delivery attempt: if the address has
// an account (for verification: an unverified one) it stores the link's
// token, voiding the older links of that purpose; otherwise there is
// nothing to send. An email change's token was stored with the request:
// prepareEmailChange only decides whether it still goes out.
func (a *Accounts) Prepare(tx *gorm.DB, m models.OutboxMail) error {
	purpose, ok := linkPurposes[mail.Kind(m.Kind)]
	if !ok {
		return nil
	}
	if purpose == models.PurposeEmailChange {
		return a.prepareEmailChange(tx, m)
	}
	query := tx.Clauses(userLock).Select("id").Where("email = ?", m.Recipient) // see lockUser
	if purpose == models.PurposeEmailVerification {
		query = query.Where("email_verified_at IS NULL")
	}
	var user models.User
	if err := query.Take(&user).Error; err != nil {
		return notFoundAs(err, mail.ErrNotSent)
	}
	return issueOneTimeToken(tx, user.ID, purpose, a.linkToken(m), a.now(), a.linkTTL(purpose))
}

// Link returns the link of a link mail. Built from APP_URL, never from
// request headers, it carries the token in the fragment, which browsers send
// neither to servers nor in Referer headers.
func (a *Accounts) Link(m models.OutboxMail) string {
	purpose, ok := linkPurposes[mail.Kind(m.Kind)]
	if !ok {
		return ""
	}
	return a.cfg.AppURL + linkPaths[purpose] + "#token=" + a.linkToken(m)
}

// linkToken is the token of a mail's link: derived from the mail's id with
// a server key, so that every attempt sends the same link, and the outbox
// table, which holds the id, never holds the token.
func (a *Accounts) linkToken(m models.OutboxMail) string {
	return deriveToken(a.cfg.LinkKey, "mail link "+m.ID)
}

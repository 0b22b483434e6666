package auth

import (
	"github.com/authstarter/authstarter/mail"
	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// signInEvents are the security events that record a sign-in, with the
// client's user agent and address.
var signInEvents = []EventType{EventLoginSucceeded, EventEmailVerified}

// alertNewDevice mails the account when it signs in from a device it has
// not signed in from before (see Device: the browser family, the system
// and the network), in the sign-in's transaction: the mail is stored
// before the answer. Earlier sign-ins are read from the account's sessions
// (live, or ended less than a day ago) and its sign-in events (kept for
// SecurityEventRetention), so that a device is remembered after its
// session is gone. An account that has never signed in gets no alert: its
// first sign-in is the one that confirmed the address, or, without
// verification, the first login.
//
// Sign-ins of one account decide in turn (models.LockKey): two at once from
// a new device would otherwise each see no earlier sign-in from it, and
// mail twice. The lock is held until the session is committed.
func (a *Accounts) alertNewDevice(tx *gorm.DB, user models.User, client Client) error {
	if err := models.LockKey(tx, "new device "+user.ID); err != nil {
		return err
	}
	type seen struct{ UserAgent, IP string }
	var earlier, events []seen
	if err := tx.Model(&models.Session{}).Distinct("user_agent", "ip").Where("user_id = ?", user.ID).Scan(&earlier).Error; err != nil {
		return err
	}
	if err := tx.Model(&models.SecurityEvent{}).Distinct("user_agent", "ip").
		Where("user_id = ? AND type IN ?", user.ID, signInEvents).Scan(&events).Error; err != nil {
		return err
	}
	earlier = append(earlier, events...)
	if len(earlier) == 0 {
		return nil
	}
	device := DeviceOf(client)
	for _, e := range earlier {
		if DeviceOf(Client{UserAgent: e.UserAgent, IP: e.IP}) == device {
			return nil
		}
	}
	return a.storeMail(tx, mail.NewSignIn, user.Email, mail.Data{
		Link: a.cfg.AppURL + "/", Time: a.now(), IP: client.IP, Device: device.Name(),
	})
}

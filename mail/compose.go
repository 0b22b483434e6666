package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/netip"
	"strings"
	texttemplate "text/template"
	"time"
)

// Kind names one of the account emails.
type Kind string

const (
	// Verification asks to confirm the address; Link confirms and signs in.
	// Needs Link and ExpiresIn.
	Verification Kind = "verification"
	// PasswordReset carries the reset link. Needs Link and ExpiresIn.
	PasswordReset Kind = "password_reset"
	// PasswordChanged reports a change and that the other sessions ended;
	// Link is the forgot-password page. Needs Link and Time; IP optional.
	PasswordChanged Kind = "password_changed"
	// RegistrationAttempt tells an existing user that someone tried to
	// register their address (instead of revealing that to the registrant);
	// Link is the sign-in page. Needs Link.
	RegistrationAttempt Kind = "registration_attempt"
	// NewSignIn tells the account of a sign-in from a device it had not
	// signed in from; Link is the dashboard, where sessions can be ended.
	// Needs Link, Time and Device; IP optional.
	NewSignIn Kind = "new_sign_in"
	// MFAEnabled and MFADisabled report that two-step verification was
	// turned on or off; Link is the dashboard. Need Link and Time; IP
	// optional.
	MFAEnabled  Kind = "mfa_enabled"
	MFADisabled Kind = "mfa_disabled"
	// RecoveryCodeUsed reports a sign-in with a recovery code and how many
	// are left (Count); Link is the dashboard. Needs Link and Time; IP
	// optional.
	RecoveryCodeUsed Kind = "recovery_code_used"
	// PasskeyAdded reports a new passkey, named Passkey; Link is the
	// dashboard, where it can be removed. Needs Link and Time; IP optional.
	PasskeyAdded Kind = "passkey_added"
	// EmailChange asks to confirm a new address for an account; it goes to
	// that address, and Link makes the change. Needs Link and ExpiresIn.
	EmailChange Kind = "email_change"
	// EmailChangeRequested tells the current address that a change to
	// Email was asked for (and how to stop it); Link is the forgot-password
	// page. Needs Link, Time and Email; IP optional.
	EmailChangeRequested Kind = "email_change_requested"
	// EmailChanged tells the former address that the account moved to
	// another one; Link is the sign-in page. Needs Link and Time; IP
	// optional.
	EmailChanged Kind = "email_changed"
	// AccountDeleted confirms a deletion. The account is gone, so there is
	// nothing to link to. Needs Time; IP optional.
	AccountDeleted Kind = "account_deleted"
)

// Data fills the templates. Each Kind's comment says which fields it needs.
type Data struct {
	AppURL    string        // shown in the footer, e.g. http://localhost:3000
	Link      string        // the action link
	ExpiresIn time.Duration // link lifetime (verification, reset)
	Time      time.Time     // when it happened (password changed)
	IP        string        // client IP (password changed, new sign-in), may be empty
	Device    string        // "Firefox on Windows" (new sign-in)
	Count     int           // recovery codes left (recovery code used)
	Passkey   string        // the passkey's name (passkey added)
	Email     string        // the address an email change moves to (email change requested)
}

// kinds is the one table of emails: subject, the data each one cannot do
// without, and (filled at init) its parsed templates. A missing link or an
// expiry of "0 seconds" is a caller bug, so Compose refuses it rather than
// mailing it.
var kinds = map[Kind]*kind{
	Verification:        {subject: "Confirm your email address", needsExpiry: true, public: true},
	PasswordReset:       {subject: "Reset your password", needsExpiry: true, public: true},
	PasswordChanged:     {subject: "Your password was changed", needsTime: true},
	RegistrationAttempt: {subject: "Someone tried to create an account with your email address", public: true},
	NewSignIn:           {subject: "New sign-in to your account", needsTime: true},
	MFAEnabled:          {subject: "Two-step verification was turned on", needsTime: true},
	MFADisabled:         {subject: "Two-step verification was turned off", needsTime: true},
	RecoveryCodeUsed:    {subject: "A recovery code was used to sign in", needsTime: true},
	PasskeyAdded:        {subject: "A passkey was added to your account", needsTime: true},
	// Public: any account holder can aim it at any address, so the address
	// gets one a minute, like the other links.
	EmailChange:          {subject: "Confirm your new email address", needsExpiry: true, public: true},
	EmailChangeRequested: {subject: "A change of your email address was requested", needsTime: true, needsEmail: true},
	EmailChanged:         {subject: "Your email address was changed", needsTime: true},
	AccountDeleted:       {subject: "Your account was deleted", needsTime: true, noLink: true},
}

type kind struct {
	subject     string
	needsExpiry bool
	needsTime   bool
	needsEmail  bool
	public      bool // anyone can trigger it: limited per address (see publicInterval) and by the outbox's Capacity
	noLink      bool // the message has nothing to link to
	text        *texttemplate.Template
	html        *htmltemplate.Template
}

//go:embed templates
var templateFS embed.FS

// Each kind gets its own template set (layout + its "content"), because
// every kind defines a template of the same name. Parsing at init turns a
// broken template into a failed start (and failed tests), not a failed email.
func init() {
	funcs := map[string]any{
		"duration": humanDuration,
		"datetime": func(t time.Time) string { return t.UTC().Format("Monday 2 January 2006 at 15:04 UTC") },
	}
	htmlFuncs := htmltemplate.FuncMap{
		"button": func(label, link string) button { return button{label, link} },
	}
	for name, k := range kinds {
		k.text = texttemplate.Must(texttemplate.New("").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.txt", "templates/"+string(name)+".txt"))
		k.html = htmltemplate.Must(htmltemplate.New("").Funcs(funcs).Funcs(htmlFuncs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+string(name)+".html"))
	}
}

// button is the argument of the "button" HTML template.
type button struct{ Label, Link string }

// view is what the templates see: the caller's data plus the subject.
type view struct {
	Data
	Subject string
}

// Compose renders the message of kind for recipient to. The text part uses
// text/template (the link stays verbatim); the HTML part uses html/template,
// which escapes every value for its context and replaces a link with an
// unsafe scheme (javascript:) by "#ZgotmplZ".
func Compose(k Kind, to string, d Data) (Message, error) {
	spec, ok := kinds[k]
	switch {
	case !ok:
		return Message{}, fmt.Errorf("mail: unknown kind %q", k)
	case d.Link == "" && !spec.noLink:
		return Message{}, fmt.Errorf("mail: %s needs a link", k)
	case spec.needsExpiry && d.ExpiresIn < time.Second:
		return Message{}, fmt.Errorf("mail: %s needs the link lifetime", k)
	case spec.needsTime && d.Time.IsZero():
		return Message{}, fmt.Errorf("mail: %s needs the time of the change", k)
	case spec.needsEmail && d.Email == "":
		return Message{}, fmt.Errorf("mail: %s needs the new address", k)
	}
	if _, err := netip.ParseAddr(d.IP); err != nil {
		// The address may come from a forwarded header. Left out rather than
		// refused, so that a security notice still goes out.
		d.IP = ""
	}
	v := view{Data: d, Subject: spec.subject}
	var text, html bytes.Buffer
	if err := spec.text.ExecuteTemplate(&text, "layout", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s text: %w", k, err)
	}
	if err := spec.html.ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s html: %w", k, err)
	}
	return Message{To: to, Subject: spec.subject, Text: text.String(), HTML: html.String(), Link: d.Link}, nil
}

// humanDuration writes a link lifetime the way a person would:
// "30 minutes", "24 hours", "1 hour 30 minutes".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	var parts []string
	for _, unit := range []struct {
		size time.Duration
		name string
	}{{time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		n := d / unit.size
		d -= n * unit.size
		switch {
		case n == 1:
			parts = append(parts, "1 "+unit.name)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, unit.name))
		}
	}
	return strings.Join(parts, " ")
}

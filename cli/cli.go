// Package cli holds the command-line tasks of the server's binary: `go run
// . help` lists them. They read the same configuration as the server (the
// environment and .env), use the same services, and print one line on
// failure, with a non-zero exit status.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/authstarter/authstarter/admin"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/server"
	"golang.org/x/term"
)

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, std IO, args []string) error
}

// commands is the list `help` prints, in its order.
var commands = []command{
	{"serve", "", "run the server (what the binary does without a command)", nil},
	{"create-user", "--email E [--name N] [--admin]", "create an account with a confirmed address (an administrator with --admin); the password is read from standard input, or asked for on a terminal (never an argument: command lines are visible to other users)", createUser},
	{"set-role", "--email E --role user|admin", "give an account a role; its sessions end (the last administrator keeps the role)", setRole},
	{"revoke-sessions", "--email E", "end every session and access token of an account at once (on every instance)", revokeSessions},
	{"disable-mfa", "--email E", "turn off an account's two-step verification (its phone and recovery codes are lost): only once the owner has proven who they are some other way; the owner is mailed", disableMFA},
	{"migrate", "", "create or update the database's tables, then exit", migrate},
	{"check-config", "", "check the configuration and the key files it names, then exit", checkConfig},
	{"help", "", "print this list", nil},
}

// Is reports whether args (os.Args[1:]) name a command rather than serving.
func Is(args []string) bool { return len(args) > 0 && args[0] != "serve" }

// Run runs the command args name and returns the exit status.
func Run(args []string, std IO) int {
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		help(std.Out)
		return 0
	}
	for _, c := range commands {
		if c.name == name && c.run != nil {
			if err := c.run(context.Background(), std, args[1:]); err != nil {
				fmt.Fprintf(std.Err, "authstarter %s: %v\n", name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(std.Err, "authstarter: unknown command %q (see: authstarter help)\n", name)
	return 2
}

func help(w io.Writer) {
	fmt.Fprintln(w, "Usage: authstarter [command] [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nThe configuration is the server's: the environment, and .env when present (see README).")
}

// flags parses a command's flags; every one listed is required unless
// optional names it.
// values holds a *string per flag with a value, a *bool per switch
// (always optional).
func flags(name string, args []string, std IO, values map[string]any, optional ...string) error {
	set := flag.NewFlagSet(name, flag.ContinueOnError)
	set.SetOutput(std.Err)
	for flagName, v := range values {
		switch v := v.(type) {
		case *string:
			set.StringVar(v, flagName, "", "")
		case *bool:
			set.BoolVar(v, flagName, false, "")
		}
	}
	if err := set.Parse(args); err != nil {
		return errors.New("bad flags")
	}
	if set.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", set.Arg(0))
	}
	for flagName, v := range values {
		if s, ok := v.(*string); ok && *s == "" && !slices.Contains(optional, flagName) {
			return fmt.Errorf("--%s is required", flagName)
		}
	}
	return nil
}

// withServer builds the server's services on the configured database (the
// background work runs meanwhile: pending mail goes out) and stops them
// after fn.
func withServer(fn func(*server.Server) error) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, server.Options{Logger: quiet})
	if err != nil {
		return err
	}
	err = fn(srv)
	if shutdownErr := srv.Shutdown(10 * time.Second); err == nil {
		err = shutdownErr
	}
	return err
}

// operator is how the commands appear in the audit log.
var operator = auth.Client{UserAgent: "authstarter command line"}

func createUser(ctx context.Context, std IO, args []string) error {
	var email, name string
	var isAdmin bool
	if err := flags("create-user", args, std, map[string]any{"email": &email, "name": &name, "admin": &isAdmin}, "name"); err != nil {
		return err
	}
	role := models.RoleUser
	if isAdmin {
		role = models.RoleAdmin
	}
	password, err := readPassword(std)
	if err != nil {
		return err
	}
	return withServer(func(srv *server.Server) error {
		user, err := srv.Accounts.CreateVerified(ctx, auth.Registration{Email: email, Name: name, Password: password, Role: role})
		if err != nil {
			return err
		}
		fmt.Fprintf(std.Out, "created %s %s (id %s), address confirmed\n", user.Role, user.Email, user.ID)
		return nil
	})
}

func setRole(ctx context.Context, std IO, args []string) error {
	var email, role string
	if err := flags("set-role", args, std, map[string]any{"email": &email, "role": &role}); err != nil {
		return err
	}
	return withServer(func(srv *server.Server) error {
		user, err := srv.Accounts.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if user, err = srv.Admin.SetRole(ctx, admin.Actor{Client: operator}, user.ID, role); err != nil {
			return err
		}
		fmt.Fprintf(std.Out, "%s is now %s\n", user.Email, user.Role)
		return nil
	})
}

func revokeSessions(ctx context.Context, std IO, args []string) error {
	return forAccount(ctx, "revoke-sessions", args, std, func(srv *server.Server, user models.User) (string, error) {
		return "ended every session of " + user.Email, srv.Sessions.EndAll(ctx, user.ID, operator)
	})
}

// disableMFA is the way back in for a user without phone or recovery
// codes. It is a command, not an admin route, on purpose: support staff who
// can remove a second factor from a web page are what takeover scams aim at.
func disableMFA(ctx context.Context, std IO, args []string) error {
	return forAccount(ctx, "disable-mfa", args, std, func(srv *server.Server, user models.User) (string, error) {
		return "two-step verification is off for " + user.Email + "; they were mailed", srv.MFA.DisableTOTP(ctx, user.ID, operator)
	})
}

// forAccount runs a command that takes --email only: do acts on that
// account and returns the line to print when it succeeds.
func forAccount(ctx context.Context, name string, args []string, std IO, do func(*server.Server, models.User) (string, error)) error {
	var email string
	if err := flags(name, args, std, map[string]any{"email": &email}); err != nil {
		return err
	}
	return withServer(func(srv *server.Server) error {
		user, err := srv.Accounts.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		done, err := do(srv, user)
		if err != nil {
			return err
		}
		fmt.Fprintln(std.Out, done)
		return nil
	})
}

func migrate(_ context.Context, std IO, args []string) error {
	if err := flags("migrate", args, std, nil); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	db, err := models.Open(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	fmt.Fprintln(std.Out, "the database is up to date")
	return models.Close(db)
}

// checkConfig loads what a start loads, but the database: the variables,
// and the key and secret files (in development, the ones under data/ are
// created if missing, as a start would).
func checkConfig(_ context.Context, std IO, args []string) error {
	if err := flags("check-config", args, std, nil); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if err := server.CheckKeys(cfg); err != nil {
		return err
	}
	fmt.Fprintf(std.Out, "the configuration is valid (%s, %s)\n", cfg.Env, cfg.AppURL)
	return nil
}

// readPassword reads the new account's password: asked for twice, without
// echo, on a terminal; else the first line of standard input.
func readPassword(std IO) (string, error) {
	if f, ok := std.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(std.Err, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(std.Err)
		if err != nil {
			return "", err
		}
		fmt.Fprint(std.Err, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(std.Err)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(std.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("no password on standard input")
	}
	return password, nil
}

// Command authstarter runs the authentication server: configuration from the
// environment (and .env), SQLite under data/, a development signing key
// created on first start. With a command (`go run . help`), it runs one of
// the command-line tasks of package cli instead. See README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authstarter/authstarter/cli"
	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/internal/logbuf"
	"github.com/authstarter/authstarter/server"
)

func main() {
	if cli.Is(os.Args[1:]) { // a command-line task: go run . help
		os.Exit(cli.Run(os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	}
	// One write per 64 KiB or 100 ms rather than per request (see
	// internal/logbuf); warnings and errors are written at once.
	out := logbuf.New(os.Stderr, 64<<10, 100*time.Millisecond)
	err := run(out)
	out.Close()
	if err != nil {
		// Plain text, not a log record: configuration errors span several lines.
		fmt.Fprintln(os.Stderr, "authstarter:", err)
		os.Exit(1)
	}
}

func run(out *logbuf.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	options := &slog.HandlerOptions{Level: cfg.LogLevel}
	var handler slog.Handler = slog.NewTextHandler(out, options)
	if cfg.IsProduction() {
		handler = slog.NewJSONHandler(out, options)
	}
	log := slog.New(logbuf.FlushFrom(handler, out, slog.LevelWarn))
	srv, err := server.New(cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	listenErr := make(chan error, 1)
	go func() { listenErr <- srv.App.Listen(fmt.Sprintf(":%d", cfg.Port)) }()
	log.Info("listening", "url", cfg.AppURL, "port", cfg.Port, "env", cfg.Env)

	select {
	case err := <-listenErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	return srv.Shutdown(10 * time.Second)
}

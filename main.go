// Command authstarter runs the authentication server: configuration from the
// environment (and .env), SQLite under data/, a development signing key
// created on first start. See README.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authstarter/authstarter/config"
	"github.com/authstarter/authstarter/server"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		// Plain text, not a log record: configuration errors span several lines.
		fmt.Fprintln(os.Stderr, "authstarter:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.IsProduction() {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
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

// Command baseline is the yardstick of `go run ./bench`: a bare Fiber v2 app
// with nothing but the route the benchmark calls. It answers GET /api/me
// with the exact bytes the real app answered, so that both send the same
// payload and the ratio measures only what the app does around it
// (middleware, token check, database read).
package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/gofiber/fiber/v2"
)

func main() {
	port := flag.Int("port", 0, "port to listen on (127.0.0.1)")
	body := flag.String("body", "", "the JSON to answer GET /api/me with, byte for byte")
	flag.Parse()
	if *port == 0 || *body == "" {
		log.Fatal("baseline: -port and -body are required")
	}

	me := []byte(*body)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/api/me", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(me)
	})
	log.Fatal(app.Listen(fmt.Sprintf("127.0.0.1:%d", *port)))
}

package controllers

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// pageQuery reads a listing's ?limit= (def when absent) and ?cursor=. A
// limit that is not a number is bad (the service checks the range, and
// answers with its own invalid_query error).
func pageQuery(c *fiber.Ctx, def int, bad error) (limit int, cursor string, err error) {
	limit = def
	if raw := c.Query("limit"); raw != "" {
		if limit, err = strconv.Atoi(raw); err != nil {
			return 0, "", bad
		}
	}
	return limit, c.Query("cursor"), nil
}

// nextCursor is a page's next_cursor: null on the last page.
func nextCursor(cursor string) *string {
	if cursor == "" {
		return nil
	}
	return &cursor
}

// Package pagination is the cursor of the API's listings (notes, the
// administrators' user list): pages ordered newest first by created_at,
// then by id, each page going on after the last row of the one before. A
// cursor rather than an offset, so that rows added meanwhile shift nothing.
package pagination

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/authstarter/authstarter/models"
	"gorm.io/gorm"
)

// Cursor names the row a page ended with: its created_at (Unix
// microseconds) and id, base64url-encoded, opaque to clients.
func Cursor(createdAt time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(createdAt.UnixMicro(), 10) + "." + id))
}

// After narrows query to the rows after cursor in the listing's order
// (created_at, then id, both descending) and orders it so; "" is the first
// page. ok is false for a cursor this package did not write.
func After(query *gorm.DB, cursor string) (_ *gorm.DB, ok bool) {
	query = query.Order("created_at DESC, id DESC")
	if cursor == "" {
		return query, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, false
	}
	micros, id, found := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !found || err != nil || !models.IsID(id) {
		return nil, false
	}
	after := time.UnixMicro(n).UTC()
	return query.Where("created_at < ? OR (created_at = ? AND id < ?)", after, after, id), true
}

// Cut returns the first limit of rows, which the query fetched with
// Limit(limit+1) to learn whether a next page exists, and the cursor of that
// page ("" on the last one). key gives a row's created_at and id.
func Cut[T any](rows []T, limit int, key func(T) (time.Time, string)) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, Cursor(key(rows[limit-1]))
}

package auth

import "time"

// utc wraps a clock so that every time this package stores or compares in
// SQL is in UTC: the SQLite driver writes times as text in their own UTC
// offset, and text in different offsets (a DST change, instances in other
// zones) does not sort in time order. Times are cut to the microsecond,
// which is what PostgreSQL keeps: a time read back then equals the one
// written, on either database.
func utc(now func() time.Time) func() time.Time {
	return func() time.Time { return now().UTC().Truncate(time.Microsecond) }
}

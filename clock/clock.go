// Package clock is the server's one notion of now. server.New wraps its
// clock (time.Now, or a test's fake) with UTC once and hands the same
// function to every service and to GORM; services built on their own (in
// unit tests) wrap what they are given, which changes nothing for a clock
// already wrapped.
package clock

import "time"

// UTC wraps now so that every time stored or compared in SQL is in UTC:
// the SQLite driver writes times as text in their own UTC offset, and text
// in different offsets (a DST change, instances in other zones) does not
// sort in time order. Times are cut to the microsecond, which is what
// PostgreSQL keeps: a time read back then equals the one written, on either
// database.
func UTC(now func() time.Time) func() time.Time {
	return func() time.Time { return now().UTC().Truncate(time.Microsecond) }
}

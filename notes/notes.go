// Package notes is the example resource: notes that belong to the signed-in
// user. It is the pattern to copy for a resource of your own, one file per
// layer:
//
//	models/note.go        the table
//	notes/notes.go        the rules (this file): who sees what, what is valid
//	controllers/notes.go  parse the request, call the service, write the answer
//	routes/routes.go      the URLs, behind RequireAuth
//	server/server.go      the service and the controller, built once
//	server/notes_test.go  the tests, through HTTP
//
// Every query is scoped to the owner: a note of another user is not found,
// exactly like an id that does not exist (404, never 403, so that ids
// cannot be probed). Errors are declared here with their answer (package
// apierror), so no other package has to learn of them.
package notes

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authstarter/authstarter/apierror"
	"github.com/authstarter/authstarter/clock"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/pagination"
	"gorm.io/gorm"
)

// The contract's limits.
const (
	MaxTitleLength = 200    // characters, after trimming
	MaxBodyLength  = 10_000 // characters
	DefaultLimit   = 20     // notes per page
	MaxLimit       = 100
)

// The errors of this resource, with their answers.
var (
	ErrNotFound     = apierror.New(404, "note_not_found", "No such note.")
	ErrInvalidTitle = apierror.BadRequest("invalid_title", "Give the note a title of 1 to 200 characters, without control characters.")
	ErrBodyTooLong  = apierror.BadRequest("body_too_long", "Keep the note to 10,000 characters.")
	ErrInvalidBody  = apierror.BadRequest("invalid_body", "The note cannot hold NUL characters.")
	ErrInvalidQuery = apierror.BadRequest(apierror.CodeInvalidQuery, "Use a limit from 1 to 100, and a cursor from the previous page.")
)

// Service is the notes' rules. Build it once (server.New) and share it.
type Service struct {
	db  *gorm.DB
	now func() time.Time
}

// NewService returns the service over db, with now as its clock.
func NewService(db *gorm.DB, now func() time.Time) *Service {
	return &Service{db: db, now: clock.UTC(now)}
}

// Page is one page of a listing: NextCursor is "" on the last one.
type Page struct {
	Notes      []models.Note
	NextCursor string
}

// List returns the owner's notes, newest first, limit at a time; cursor is
// "" for the first page, then the previous page's NextCursor.
func (s *Service) List(ctx context.Context, ownerID string, limit int, cursor string) (Page, error) {
	if limit < 1 || limit > MaxLimit {
		return Page{}, ErrInvalidQuery
	}
	query, ok := pagination.After(s.db.WithContext(ctx).Where("user_id = ?", ownerID), cursor)
	if !ok {
		return Page{}, ErrInvalidQuery
	}
	var rows []models.Note
	// One more than asked: whether there is a next page.
	if err := query.Limit(limit + 1).Find(&rows).Error; err != nil {
		return Page{}, err
	}
	var page Page
	page.Notes, page.NextCursor = pagination.Cut(rows, limit, func(n models.Note) (time.Time, string) { return n.CreatedAt, n.ID })
	return page, nil
}

// Create stores a new note of the owner's.
func (s *Service) Create(ctx context.Context, ownerID, title, body string) (models.Note, error) {
	title, err := validTitle(title)
	if err != nil {
		return models.Note{}, err
	}
	if err := validBody(body); err != nil {
		return models.Note{}, err
	}
	now := s.now()
	note := models.Note{ID: models.NewID(), UserID: ownerID, Title: title, Body: body, CreatedAt: now, UpdatedAt: now}
	return note, s.db.WithContext(ctx).Create(&note).Error
}

// Get returns one of the owner's notes.
func (s *Service) Get(ctx context.Context, ownerID, id string) (models.Note, error) {
	var note models.Note
	if !models.IsID(id) { // not even an id: nothing to look up
		return note, ErrNotFound
	}
	err := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, ownerID).Take(&note).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return note, ErrNotFound
	}
	return note, err
}

// Update changes the title, the body or both of one of the owner's notes;
// a nil field is left as it is.
func (s *Service) Update(ctx context.Context, ownerID, id string, title, body *string) (models.Note, error) {
	changes := map[string]any{}
	if title != nil {
		t, err := validTitle(*title)
		if err != nil {
			return models.Note{}, err
		}
		changes["title"] = t
	}
	if body != nil {
		if err := validBody(*body); err != nil {
			return models.Note{}, err
		}
		changes["body"] = *body
	}
	note, err := s.Get(ctx, ownerID, id)
	if err != nil || len(changes) == 0 {
		return note, err
	}
	changes["updated_at"] = s.now()
	// The owner in the WHERE clause too: the row read above is not locked.
	res := s.db.WithContext(ctx).Model(&models.Note{}).Where("id = ? AND user_id = ?", id, ownerID).Updates(changes)
	if res.Error != nil {
		return note, res.Error
	}
	if res.RowsAffected == 0 { // deleted meanwhile
		return note, ErrNotFound
	}
	return s.Get(ctx, ownerID, id)
}

// Delete deletes one of the owner's notes.
func (s *Service) Delete(ctx context.Context, ownerID, id string) error {
	if !models.IsID(id) {
		return ErrNotFound
	}
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, ownerID).Delete(&models.Note{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return res.Error
}

// validTitle returns the title trimmed, or ErrInvalidTitle.
func validTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	n := utf8.RuneCountInString(title)
	if n < 1 || n > MaxTitleLength || strings.ContainsFunc(title, unicode.IsControl) {
		return "", ErrInvalidTitle
	}
	return title, nil
}

// validBody allows any text (line breaks included) but a NUL, which
// PostgreSQL cannot store.
func validBody(body string) error {
	if utf8.RuneCountInString(body) > MaxBodyLength {
		return ErrBodyTooLong
	}
	if strings.ContainsRune(body, 0) {
		return ErrInvalidBody
	}
	return nil
}

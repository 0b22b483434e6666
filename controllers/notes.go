package controllers

import (
	"github.com/authstarter/authstarter/middleware"
	"github.com/authstarter/authstarter/models"
	"github.com/authstarter/authstarter/notes"
	"github.com/gofiber/fiber/v2"
)

// NotesController serves the example resource (see package notes): it
// reads the request, asks the service on behalf of the signed-in user, and
// writes the answer. It holds no rule and no SQL.
type NotesController struct {
	Notes *notes.Service
}

// noteView is the public shape of a note, built field by field: a column
// added to the model is not published until it is added here.
type noteView struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func viewNote(n models.Note) noteView {
	return noteView{ID: n.ID, Title: n.Title, Body: n.Body, CreatedAt: jsonTime(n.CreatedAt), UpdatedAt: jsonTime(n.UpdatedAt)}
}

// owner is the signed-in user, whose notes these are. The id comes from the
// verified access token, never from the request body or query.
func owner(c *fiber.Ctx) string { return middleware.Claims(c).Subject }

// List handles GET /api/notes?limit=&cursor=.
func (h *NotesController) List(c *fiber.Ctx) error {
	limit, cursor, err := pageQuery(c, notes.DefaultLimit, notes.ErrInvalidQuery)
	if err != nil {
		return err
	}
	page, err := h.Notes.List(c.UserContext(), owner(c), limit, cursor)
	if err != nil {
		return err
	}
	views := make([]noteView, len(page.Notes))
	for i, n := range page.Notes {
		views[i] = viewNote(n)
	}
	return c.JSON(fiber.Map{"notes": views, "next_cursor": nextCursor(page.NextCursor)})
}

// Create handles POST /api/notes {title, body?}.
func (h *NotesController) Create(c *fiber.Ctx) error {
	var in struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := decodeJSON(c, &in); err != nil { // unknown fields (an "id", a "user_id") are refused
		return err
	}
	if err := required("title", in.Title); err != nil {
		return err
	}
	note, err := h.Notes.Create(c.UserContext(), owner(c), in.Title, in.Body)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"note": viewNote(note)})
}

// Get handles GET /api/notes/:id.
func (h *NotesController) Get(c *fiber.Ctx) error {
	note, err := h.Notes.Get(c.UserContext(), owner(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"note": viewNote(note)})
}

// Update handles PATCH /api/notes/:id {title?, body?}: absent fields stay
// as they are.
func (h *NotesController) Update(c *fiber.Ctx) error {
	var in struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	note, err := h.Notes.Update(c.UserContext(), owner(c), c.Params("id"), in.Title, in.Body)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"note": viewNote(note)})
}

// Delete handles DELETE /api/notes/:id.
func (h *NotesController) Delete(c *fiber.Ctx) error {
	if err := h.Notes.Delete(c.UserContext(), owner(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

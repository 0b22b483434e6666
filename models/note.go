package models

import "time"

// Note is the example resource: a note that belongs to one user (package
// notes holds its rules). A resource of your own looks the same: a random
// UUID, the owner's id with an index that serves the listing's order, and
// ON DELETE CASCADE so that the user's deletion takes the notes with it.
// Add the model to Tables (models.go).
type Note struct {
	ID        string    `gorm:"primaryKey;size:36"`
	UserID    string    `gorm:"not null;size:36;index:idx_notes_owner_order,priority:1"`
	User      User      `gorm:"constraint:OnDelete:CASCADE"`
	Title     string    `gorm:"not null;size:800"` // at most 200 characters, of up to 4 bytes each
	Body      string    `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null;index:idx_notes_owner_order,priority:2"`
	UpdatedAt time.Time `gorm:"not null"`
}

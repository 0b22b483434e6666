package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/models"
)

// The same profile gets the same encoded answer; any change of the profile
// gets a new one, at once.
func TestMeAnswerFollowsTheProfile(t *testing.T) {
	var answers meAnswers
	user := models.User{ID: "u1", Email: "ann@example.com", Name: "Ann", CreatedAt: time.Unix(1, 0), LastPasswordChange: time.Unix(2, 0)}
	first, err := answers.body(user)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := answers.body(user)
	if &again[0] != &first[0] {
		t.Error("the same profile was encoded again")
	}
	verified := time.Unix(3, 0)
	user.EmailVerifiedAt = &verified
	changed, _ := answers.body(user)
	if !strings.Contains(string(changed), `"email_verified":true`) {
		t.Fatalf("after the change the answer is %s", changed)
	}
	if !strings.Contains(string(first), `"email_verified":false`) {
		t.Fatalf("the first answer was changed in place: %s", first)
	}
}

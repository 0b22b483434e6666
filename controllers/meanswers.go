package controllers

import (
	"encoding/json"
	"sync"

	"github.com/authstarter/authstarter/models"
)

// meAnswers remembers the encoded body of GET /api/me for each user, reused
// as long as the profile it was encoded from is the one auth.Profiles
// returns. The profile itself is compared, so an answer can never be older
// than the profile: there is nothing to invalidate here. (EmailVerifiedAt
// is compared as a pointer: a profile read again from the database is
// encoded again, which costs one encoding.) Encoding was a
// fifth of the server's work for the most frequent request
// (BenchmarkMe in server/bench_test.go).
type meAnswers struct {
	mu     sync.RWMutex
	byUser map[string]meAnswer
}

type meAnswer struct {
	profile models.User
	body    []byte // never written to once stored: answers send it as it is
}

// maxMeAnswers bounds the memory: when full, the map starts over.
const maxMeAnswers = 10_000

func (a *meAnswers) body(user models.User) ([]byte, error) {
	a.mu.RLock()
	cached, ok := a.byUser[user.ID]
	a.mu.RUnlock()
	if ok && cached.profile == user {
		return cached.body, nil
	}
	body, err := json.Marshal(meResponse{User: viewUser(user)})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byUser == nil || len(a.byUser) >= maxMeAnswers {
		a.byUser = make(map[string]meAnswer)
	}
	a.byUser[user.ID] = meAnswer{profile: user, body: body}
	return body, nil
}

package auth

// OccupyHashSlots takes every hashing slot of h, as a flood of logins would,
// until release is called.
func OccupyHashSlots(h *PasswordHasher) (release func()) {
	for range cap(h.slots) {
		h.slots <- struct{}{}
	}
	return func() {
		for range cap(h.slots) {
			<-h.slots
		}
	}
}

// CommonPasswordCount is the size of the embedded list.
func CommonPasswordCount() int { return len(commonPasswords()) }

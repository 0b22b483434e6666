package mail

// HumanDuration exposes the lifetime formatting to the external tests.
var HumanDuration = humanDuration

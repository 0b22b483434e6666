package auth_test

import (
	"testing"

	"github.com/authstarter/authstarter/auth"
)

func TestSecretsEqual(t *testing.T) {
	const secret = "S79QAFWSNudtKTDNmStrr2DSvDfywKtHCY2AnTSGDVM="
	tests := []struct {
		presented string
		want      bool
	}{
		{secret, true},
		{"", false},
		{secret[:len(secret)-1], false}, // a prefix
		{secret + "x", false},           // a longer string that starts with it
		{"s79QAFWSNudtKTDNmStrr2DSvDfywKtHCY2AnTSGDVM=", false},
	}
	for _, tt := range tests {
		if got := auth.SecretsEqual(tt.presented, secret); got != tt.want {
			t.Errorf("SecretsEqual(%q, secret) = %v, want %v", tt.presented, got, tt.want)
		}
	}
}

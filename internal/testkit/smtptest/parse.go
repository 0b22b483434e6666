package smtptest

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
)

// parse reads the headers and the first text/plain and text/html parts,
// however deeply nested in multiparts.
func parse(raw []byte) (Received, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{Raw: raw}, err
	}
	r := Received{Raw: raw, Header: msg.Header}
	if r.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return r, err
	}
	return r, r.readPart(textproto.MIMEHeader(msg.Header), msg.Body)
}

func (r *Received) readPart(h textproto.MIMEHeader, body io.Reader) error {
	mediaType, params := "text/plain", map[string]string(nil) // RFC 2045 default
	if ct := h.Get("Content-Type"); ct != "" {
		var err error
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return err
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart, not NextPart: NextPart decodes quoted-printable
			// itself and hides the header, which would make decoding here
			// depend on the encoding.
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := r.readPart(p.Header, p); err != nil {
				return err
			}
		}
	}
	decoded, err := decode(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(decoded), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && r.Text == "":
		r.Text = text
	case mediaType == "text/html" && r.HTML == "":
		r.HTML = text
	}
	return nil
}

func decode(encoding string, body io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(body))
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, body)) // skips line breaks
	default: // 7bit, 8bit, binary
		return io.ReadAll(body)
	}
}

package messenger

import (
	"errors"
	"fmt"
	"net/url"
	"unicode/utf8"
)

// MessagingType says why a Page sends a message; Messenger applies its
// 24-hour window according to it.
type MessagingType string

const (
	// MessagingTypeResponse answers a message the person sent inside the
	// 24-hour window.
	MessagingTypeResponse MessagingType = "RESPONSE"
	// MessagingTypeUpdate is a proactive message inside the 24-hour window.
	MessagingTypeUpdate MessagingType = "UPDATE"
	// MessagingTypeMessageTag is a non-promotional message outside the
	// window, allowed only with a Tag.
	MessagingTypeMessageTag MessagingType = "MESSAGE_TAG"
)

// Limits of the Send API that Outgoing.Validate checks before a request is
// made, so that a bad broadcast fails fast instead of once per lead.
const (
	// MaxTextLength is the longest plain text message, in characters.
	MaxTextLength = 2000
	// MaxTemplateTextLength is the longest text of a button template.
	MaxTemplateTextLength = 640
	// MaxButtons is the most buttons a button template may carry.
	MaxButtons = 3
	// MaxButtonTitleLength is the longest button title, in characters.
	MaxButtonTitleLength = 20
)

// Button is a web_url button of a button template.
type Button struct {
	// Title is the label shown on the button.
	Title string
	// URL is the absolute http(s) address the button opens.
	URL string
}

// Outgoing is one message to one person.
type Outgoing struct {
	// PSID is the Page-scoped ID of the recipient. It is personal data and
	// never appears in errors.
	PSID string
	// MessagingType is RESPONSE, UPDATE or MESSAGE_TAG.
	MessagingType MessagingType
	// Tag is the message tag; required with MESSAGE_TAG and refused otherwise.
	Tag string
	// Text is the message text, or the text of the button template when
	// Buttons is not empty.
	Text string
	// Buttons turns the message into a button template with web_url buttons.
	Buttons []Button
}

// Validate reports the first reason the Send API would refuse m.
func (m Outgoing) Validate() error {
	if m.PSID == "" {
		return errors.New("messenger: recipient PSID is empty")
	}
	switch m.MessagingType {
	case MessagingTypeResponse, MessagingTypeUpdate:
		if m.Tag != "" {
			return fmt.Errorf("messenger: tag is only allowed with messaging type %s", MessagingTypeMessageTag)
		}
	case MessagingTypeMessageTag:
		if m.Tag == "" {
			return fmt.Errorf("messenger: messaging type %s needs a tag", MessagingTypeMessageTag)
		}
	default:
		return fmt.Errorf("messenger: unknown messaging type %q", m.MessagingType)
	}
	if m.Text == "" {
		return errors.New("messenger: message text is empty")
	}
	if len(m.Buttons) == 0 {
		if n := utf8.RuneCountInString(m.Text); n > MaxTextLength {
			return fmt.Errorf("messenger: message text has %d characters, more than %d", n, MaxTextLength)
		}
		return nil
	}
	if n := utf8.RuneCountInString(m.Text); n > MaxTemplateTextLength {
		return fmt.Errorf("messenger: button template text has %d characters, more than %d", n, MaxTemplateTextLength)
	}
	if len(m.Buttons) > MaxButtons {
		return fmt.Errorf("messenger: %d buttons, at most %d are allowed", len(m.Buttons), MaxButtons)
	}
	for i, b := range m.Buttons {
		if b.Title == "" {
			return fmt.Errorf("messenger: button %d has no title", i+1)
		}
		if n := utf8.RuneCountInString(b.Title); n > MaxButtonTitleLength {
			return fmt.Errorf("messenger: button %d title has %d characters, more than %d", i+1, n, MaxButtonTitleLength)
		}
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("messenger: button %d needs an absolute http(s) URL", i+1)
		}
	}
	return nil
}

// sendRequest is the JSON body of POST /{page-id}/messages.
type sendRequest struct {
	Recipient     recipient   `json:"recipient"`
	MessagingType string      `json:"messaging_type"`
	Tag           string      `json:"tag,omitempty"`
	Message       wireMessage `json:"message"`
}

type recipient struct {
	ID string `json:"id"`
}

type wireMessage struct {
	Text       string      `json:"text,omitempty"`
	Attachment *attachment `json:"attachment,omitempty"`
}

type attachment struct {
	Type    string          `json:"type"`
	Payload templatePayload `json:"payload"`
}

type templatePayload struct {
	TemplateType string       `json:"template_type"`
	Text         string       `json:"text"`
	Buttons      []wireButton `json:"buttons"`
}

type wireButton struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Title string `json:"title"`
}

// sendResponse is the JSON body of a successful send.
type sendResponse struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// wire converts m to the Send API request body.
func (m Outgoing) wire() sendRequest {
	req := sendRequest{
		Recipient:     recipient{ID: m.PSID},
		MessagingType: string(m.MessagingType),
		Tag:           m.Tag,
	}
	if len(m.Buttons) == 0 {
		req.Message.Text = m.Text
		return req
	}
	buttons := make([]wireButton, len(m.Buttons))
	for i, b := range m.Buttons {
		buttons[i] = wireButton{Type: "web_url", URL: b.URL, Title: b.Title}
	}
	req.Message.Attachment = &attachment{
		Type: "template",
		Payload: templatePayload{
			TemplateType: "button",
			Text:         m.Text,
			Buttons:      buttons,
		},
	}
	return req
}

// outgoing converts a Send API request body back to an Outgoing; the
// Emulator uses it to record what it accepted.
func (r sendRequest) outgoing() Outgoing {
	m := Outgoing{
		PSID:          r.Recipient.ID,
		MessagingType: MessagingType(r.MessagingType),
		Tag:           r.Tag,
		Text:          r.Message.Text,
	}
	if a := r.Message.Attachment; a != nil && a.Type == "template" && a.Payload.TemplateType == "button" {
		m.Text = a.Payload.Text
		for _, b := range a.Payload.Buttons {
			m.Buttons = append(m.Buttons, Button{Title: b.Title, URL: b.URL})
		}
	}
	return m
}

package broadcast

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inboxchat/inboxchat-operator/internal/messenger"
)

// MessageTags are the tags the Send API accepts with MESSAGE_TAG.
var MessageTags = []string{"ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "HUMAN_AGENT"}

// Audience tag limits: lead_tags.tag is varchar(64).
const (
	maxTagLen = 64
	maxTags   = 32
)

// ValidateSpec checks the fields that come from the Broadcast spec (Text,
// Buttons, MessagingType, Tag, Tags, ExcludeTags) and returns an Invalid
// error listing every problem, or nil. The controller may call it before it
// creates a worker Job; New calls it too.
func (c Config) ValidateSpec() error {
	_, problems := c.checkSpec()
	return invalid(problems)
}

// Validate checks the whole configuration, as New does.
func (c Config) Validate() error {
	_, problems := c.check()
	return invalid(problems)
}

// check validates every field and returns the parsed template.
func (c Config) check() (*messageTemplate, []*ValidationError) {
	tmpl, problems := c.checkSpec()
	add := func(field, reason, format string, args ...any) {
		problems = append(problems, &ValidationError{Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	if c.DB == nil {
		add("Config.DB", "DatabaseMissing", "no database handle")
	} else if n := c.DB.Stats().MaxOpenConnections; n > 0 && n < 3 {
		add("Config.DB", "DatabasePoolTooSmall", "the database pool allows %d open connections; a run needs at least 3", n)
	}
	if c.Engine.DriverName() == "" {
		add("Config.Engine", "UnknownEngine", "unknown database engine %q", c.Engine)
	}
	if c.Keyring == nil {
		add("Config.Keyring", "KeyringMissing", "no keyring to open lead fields with")
	}
	if len(c.UnsubscribeKey) < 16 {
		add("Config.UnsubscribeKey", "UnsubscribeKeyMissing", "the unsubscribe key must have at least 16 bytes")
	} else if _, err := UnsubscribeURL(c.UnsubscribeKey, c.Tenant, "example.com", c.Broadcast, 1, time.Unix(1, 0)); err != nil {
		add("Config.Tenant", "CannotSignUnsubscribeLink", "cannot sign unsubscribe links for tenant %q and broadcast %q: %v",
			c.Tenant, c.Broadcast, err)
	}
	if err := checkHost(c.Host); err != "" {
		add("Config.Host", "InvalidHost", "%s", err)
	}
	if c.Broadcast == "" || utf8.RuneCountInString(c.Broadcast) > maxBroadcastLen {
		add("Config.Broadcast", "InvalidName", "the broadcast name must have 1 to %d characters", maxBroadcastLen)
	}
	if c.PageID == "" {
		add("Config.PageID", "PageIDMissing", "no Page ID")
	}
	if c.Sender == nil {
		if c.Client == nil {
			add("Config.Client", "ClientMissing", "neither a Send API client nor a sender")
		}
		if !(c.Rate > 0) || math.IsInf(c.Rate, 0) || c.Rate > messenger.MaxPageMessagesPerSecond {
			add("spec.messagesPerSecond", "InvalidRate", "the rate must be above 0 and at most %d messages per second, got %v",
				messenger.MaxPageMessagesPerSecond, c.Rate)
		}
	}
	if math.IsNaN(c.MaxFailureRatio) || c.MaxFailureRatio < 0 || c.MaxFailureRatio > 1 {
		add("spec.maxFailureRatio", "InvalidFailureRatio", "the failure ratio must be between 0 and 1, got %v", c.MaxFailureRatio)
	}
	return tmpl, problems
}

// checkSpec validates the fields that come from the Broadcast spec.
func (c Config) checkSpec() (*messageTemplate, []*ValidationError) {
	var problems []*ValidationError
	add := func(field, reason, format string, args ...any) {
		problems = append(problems, &ValidationError{Field: field, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	tmpl, tp := parseMessageTemplate(c.Text)
	if tp != nil {
		problems = append(problems, tp)
	}
	switch c.MessagingType {
	case messenger.MessagingTypeResponse, messenger.MessagingTypeUpdate:
		if c.Tag != "" {
			add("spec.tag", "TagNotAllowed", "a tag is only allowed with messagingType %s", messenger.MessagingTypeMessageTag)
		}
	case messenger.MessagingTypeMessageTag:
		switch {
		case c.Tag == "":
			add("spec.tag", "TagRequired", "messagingType %s requires a tag (one of %s)",
				messenger.MessagingTypeMessageTag, strings.Join(MessageTags, ", "))
		case !contains(MessageTags, c.Tag):
			add("spec.tag", "UnknownTag", "tag %q is not a Messenger message tag (one of %s)", c.Tag, strings.Join(MessageTags, ", "))
		}
	default:
		add("spec.messagingType", "UnknownMessagingType", "messagingType %q is not RESPONSE, UPDATE or MESSAGE_TAG", c.MessagingType)
	}
	problems = append(problems, checkTags("spec.audience.tags", c.Tags)...)
	problems = append(problems, checkTags("spec.audience.excludeTags", c.ExcludeTags)...)
	for _, t := range c.Tags {
		if contains(c.ExcludeTags, t) {
			add("spec.audience", "TagIncludedAndExcluded", "tag %q is both required and excluded, so the audience is empty", t)
		}
	}
	if tmpl != nil {
		problems = append(problems, c.checkSample(tmpl)...)
	}
	return tmpl, problems
}

// checkSample checks the buttons, then renders the message for a sample
// lead with an unsubscribe link as long as this broadcast's and checks it
// against the Send API's limits.
func (c Config) checkSample(tmpl *messageTemplate) []*ValidationError {
	if len(c.Buttons) > 0 {
		m := messenger.Outgoing{PSID: "0", MessagingType: messenger.MessagingTypeUpdate, Text: "x", Buttons: c.Buttons}
		if err := m.Validate(); err != nil {
			return []*ValidationError{{Field: "spec.message.buttons", Reason: "ButtonsInvalid",
				Message: strings.TrimPrefix(err.Error(), "messenger: ")}}
		}
	}
	if c.MessagingType == messenger.MessagingTypeMessageTag && c.Tag == "" {
		return nil // reported by checkSpec
	}
	text, err := tmpl.render(leadFields{FirstName: "Ada", LastName: "Lovelace"})
	if err != nil {
		return nil // reported by parseMessageTemplate
	}
	link, err := sampleLink(c)
	if err != nil {
		return nil // reported by check
	}
	m := messenger.Outgoing{PSID: "0", MessagingType: c.MessagingType, Tag: c.Tag, Text: composeText(text, link), Buttons: c.Buttons}
	if err := m.Validate(); err != nil {
		return []*ValidationError{{Field: "spec.message.text", Reason: "MessageInvalid",
			Message: "with its unsubscribe link the message breaks a Send API limit: " + strings.TrimPrefix(err.Error(), "messenger: ")}}
	}
	return nil
}

// checkTags validates one list of audience tags.
func checkTags(field string, tags []string) []*ValidationError {
	var problems []*ValidationError
	if len(tags) > maxTags {
		problems = append(problems, &ValidationError{Field: field, Reason: "TooManyTags",
			Message: fmt.Sprintf("%d tags, at most %d are allowed", len(tags), maxTags)})
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t == "" || utf8.RuneCountInString(t) > maxTagLen:
			problems = append(problems, &ValidationError{Field: field, Reason: "InvalidTag",
				Message: fmt.Sprintf("a tag must have 1 to %d characters", maxTagLen)})
		case seen[t]:
			problems = append(problems, &ValidationError{Field: field, Reason: "DuplicateTag",
				Message: fmt.Sprintf("tag %q is listed twice", t)})
		}
		seen[t] = true
	}
	return problems
}

// checkHost returns why host cannot be the host of an https URL, or "".
func checkHost(host string) string {
	if host == "" {
		return "no tenant host for the unsubscribe link"
	}
	u, err := url.Parse("https://" + host + "/")
	if err != nil || u.Host != host || u.User != nil || u.Path != "/" || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(host, "/?#@ ") {
		return fmt.Sprintf("%q is not a host name (give it without scheme or path)", host)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package messenger

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"time"
)

// Usage headers that Graph adds to its responses once an app has made
// enough calls. Both hold JSON with percentages of a limit used so far.
const (
	// HeaderAppUsage carries the app's Platform Rate Limit usage.
	HeaderAppUsage = "X-App-Usage"
	// HeaderBusinessUseCaseUsage carries Business Use Case usage per
	// business object (here: the Page), which applies to Page tokens.
	HeaderBusinessUseCaseUsage = "X-Business-Use-Case-Usage"
)

// AppUsage is the content of X-App-Usage: percentages of the app's limits.
type AppUsage struct {
	// CallCount is the percentage of allowed calls made.
	CallCount int `json:"call_count"`
	// TotalCPUTime is the percentage of allowed CPU time used.
	TotalCPUTime int `json:"total_cputime"`
	// TotalTime is the percentage of allowed total time used.
	TotalTime int `json:"total_time"`
}

// BusinessUsage is one entry of X-Business-Use-Case-Usage.
type BusinessUsage struct {
	// BusinessID is the business object the entry is about (a Page ID).
	BusinessID string
	// Type is the rate-limit type, for example "pages" or "messenger".
	Type string
	// CallCount, TotalCPUTime and TotalTime are percentages of the limit.
	CallCount, TotalCPUTime, TotalTime int
	// RegainAccessIn is how long Graph says the business stays throttled;
	// zero when it is not throttled.
	RegainAccessIn time.Duration
}

// Usage is the rate-limit usage reported by the last Send API response.
type Usage struct {
	// App is the X-App-Usage content, if the header was present.
	App *AppUsage
	// Business holds the X-Business-Use-Case-Usage entries.
	Business []BusinessUsage
	// ObservedAt is when the response carrying these headers arrived.
	ObservedAt time.Time
}

// MaxPercent is the highest percentage of any limit reported, from 0 to 100
// (values above 100 are reported as 100).
func (u Usage) MaxPercent() int {
	m := 0
	if u.App != nil {
		m = max(m, u.App.CallCount, u.App.TotalCPUTime, u.App.TotalTime)
	}
	for _, b := range u.Business {
		m = max(m, b.CallCount, b.TotalCPUTime, b.TotalTime)
	}
	return min(max(m, 0), 100)
}

// RegainAccessIn is the longest time any business entry says access is
// blocked for, or zero.
func (u Usage) RegainAccessIn() time.Duration {
	var d time.Duration
	for _, b := range u.Business {
		d = max(d, b.RegainAccessIn)
	}
	return d
}

// ParseUsage reads the usage headers of a Graph response. ok is false when
// neither header is present or both are malformed.
func ParseUsage(h http.Header, now time.Time) (u Usage, ok bool) {
	if v := h.Get(HeaderAppUsage); v != "" {
		var raw map[string]json.Number
		if json.Unmarshal([]byte(v), &raw) == nil {
			u.App = &AppUsage{
				CallCount:    percent(raw["call_count"]),
				TotalCPUTime: percent(raw["total_cputime"]),
				TotalTime:    percent(raw["total_time"]),
			}
		}
	}
	if v := h.Get(HeaderBusinessUseCaseUsage); v != "" {
		var raw map[string][]map[string]json.RawMessage
		if json.Unmarshal([]byte(v), &raw) == nil {
			ids := make([]string, 0, len(raw))
			for id := range raw {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				for _, entry := range raw[id] {
					u.Business = append(u.Business, businessEntry(id, entry))
				}
			}
		}
	}
	if u.App == nil && len(u.Business) == 0 {
		return Usage{}, false
	}
	u.ObservedAt = now
	return u, true
}

func businessEntry(id string, entry map[string]json.RawMessage) BusinessUsage {
	num := func(key string) json.Number {
		var n json.Number
		_ = json.Unmarshal(entry[key], &n)
		return n
	}
	var typ string
	_ = json.Unmarshal(entry["type"], &typ)
	return BusinessUsage{
		BusinessID:   id,
		Type:         typ,
		CallCount:    percent(num("call_count")),
		TotalCPUTime: percent(num("total_cputime")),
		TotalTime:    percent(num("total_time")),
		// Graph gives estimated_time_to_regain_access in minutes.
		RegainAccessIn: time.Duration(percent(num("estimated_time_to_regain_access"))) * time.Minute,
	}
}

// percent reads a JSON number as a non-negative integer; anything else is 0.
func percent(n json.Number) int {
	f, err := n.Float64()
	if err != nil || f < 0 || math.IsNaN(f) {
		return 0
	}
	return int(math.Min(math.Round(f), math.MaxInt32))
}

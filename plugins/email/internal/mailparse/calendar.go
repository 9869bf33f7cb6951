package mailparse

import (
	"strings"
	"time"
)

// maxCalendarLines bounds the lines of an iCalendar object that are read
// for its summary.
const maxCalendarLines = 5000

// calendarSummary returns a readable summary of the first event of an
// iCalendar object (RFC 5545), as an invitation shows in a mail program:
// what, when, where, who invites. "" when it has no event.
func calendarSummary(ics string) string {
	lines := unfoldICS(ics)
	method := ""
	inEvent := false
	props := map[string]string{}
	for _, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		key, params, _ := strings.Cut(name, ";")
		key = strings.ToUpper(strings.TrimSpace(key))
		switch {
		case key == "METHOD" && !inEvent:
			method = strings.ToUpper(strings.TrimSpace(value))
		case key == "BEGIN" && strings.EqualFold(strings.TrimSpace(value), "VEVENT"):
			inEvent = true
		case key == "END" && strings.EqualFold(strings.TrimSpace(value), "VEVENT"):
			inEvent = false
			if len(props) > 0 {
				goto done
			}
		case inEvent:
			if _, dup := props[key]; !dup {
				props[key] = icsText(value)
				if key == "DTSTART" || key == "DTEND" {
					props[key] = icsTime(value, params)
				}
			}
		}
	}
done:
	if len(props) == 0 {
		return ""
	}
	title := "Calendar invitation"
	switch method {
	case "CANCEL":
		title = "Calendar event cancelled"
	case "REPLY":
		title = "Calendar reply"
	}
	var b strings.Builder
	b.WriteString(title)
	if s := props["SUMMARY"]; s != "" {
		b.WriteString(": " + s)
	}
	if s := props["DTSTART"]; s != "" {
		b.WriteString("\nWhen: " + s)
		if e := props["DTEND"]; e != "" {
			b.WriteString(" – " + e)
		}
	}
	if s := props["LOCATION"]; s != "" {
		b.WriteString("\nWhere: " + s)
	}
	if s := props["ORGANIZER"]; s != "" {
		b.WriteString("\nOrganizer: " + strings.TrimPrefix(strings.TrimPrefix(s, "mailto:"), "MAILTO:"))
	}
	return b.String()
}

// unfoldICS splits an iCalendar text into logical lines (a line starting
// with a space or tab continues the previous one).
func unfoldICS(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if len(out) >= maxCalendarLines {
			break
		}
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(out) > 0 {
			out[len(out)-1] += l[1:]
			continue
		}
		out = append(out, l)
	}
	return out
}

// icsText undoes the escapes of an iCalendar TEXT value.
func icsText(v string) string {
	r := strings.NewReplacer(`\n`, " ", `\N`, " ", `\,`, ",", `\;`, ";", `\\`, `\`)
	return strings.TrimSpace(r.Replace(v))
}

// icsTime formats a DATE or DATE-TIME value; params may name a TZID.
func icsTime(v, params string) string {
	v = strings.TrimSpace(v)
	tz := ""
	for _, p := range strings.Split(params, ";") {
		if k, val, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "TZID") {
			tz = strings.Trim(val, `"`)
		}
	}
	for _, layout := range []string{"20060102T150405Z", "20060102T150405", "20060102"} {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		switch {
		case layout == "20060102":
			return t.Format("Mon, 2 Jan 2006")
		case strings.HasSuffix(layout, "Z"):
			return t.Format("Mon, 2 Jan 2006 15:04 UTC")
		case tz != "":
			return t.Format("Mon, 2 Jan 2006 15:04") + " (" + tz + ")"
		default:
			return t.Format("Mon, 2 Jan 2006 15:04")
		}
	}
	return v
}

package main

import (
	"fmt"
	"strings"
)

// generalPlatform is how a ticket with no platform, a blank one or
// "general" stores and answers its ResourceAffected.
const generalPlatform = "General"

// defaultPlatformNames is the API family's own list, in its order.
var defaultPlatformNames = []string{
	"general", "renaissance", "overture", "winners", "soprano", "symphony", "sonata", "papyrus",
	"website", "blog", "enewsletter", "socialmedia", "api", "aws", "shopify", "instakes",
	"mcp-server", "sweeppea-cli", "n8n", "other",
}

// defaultPlatformAliases are the family's common spellings; a team's own
// list (-platforms) has none.
var defaultPlatformAliases = map[string]string{
	"shopify app":                  "shopify",
	"mcp":                          "mcp-server",
	"cli":                          "sweeppea-cli",
	"command line interface (cli)": "sweeppea-cli",
}

// platformList is the platforms a ticket's ResourceAffected may name.
type platformList struct {
	names   []string          // canonical (folded) names, in order
	lookup  map[string]string // folded name or alias → canonical name
	custom  bool              // set by -platforms
	joined  string            // names, ", "-separated, for messages
	helpFor string            // the lists' Help text for platform
}

func defaultPlatforms() *platformList {
	p := newPlatformList(defaultPlatformNames, false)
	for alias, name := range defaultPlatformAliases {
		p.lookup[alias] = name
	}
	return p
}

// parsePlatforms reads -platforms: comma-separated names, kept in their
// order, "general" put first and "other" last when the list lacks them.
func parsePlatforms(flagValue string) (*platformList, error) {
	var names []string
	seen := map[string]bool{}
	for name := range strings.SplitSeq(flagValue, ",") {
		name = foldCase(strings.TrimSpace(name))
		switch {
		case name == "":
			continue
		case seen[name]:
			return nil, fmt.Errorf("-platforms names %q twice", name)
		case len([]rune(name)) > maxResourceAffected:
			return nil, fmt.Errorf("-platforms: %q is longer than %d characters", name, maxResourceAffected)
		}
		seen[name] = true
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("-platforms names no platform")
	}
	if !seen["general"] {
		names = append([]string{"general"}, names...)
	}
	if !seen["other"] {
		names = append(names, "other")
	}
	return newPlatformList(names, true), nil
}

func newPlatformList(names []string, custom bool) *platformList {
	p := &platformList{names: names, lookup: map[string]string{}, custom: custom, joined: strings.Join(names, ", ")}
	for _, name := range names {
		p.lookup[name] = name
	}
	if custom {
		p.helpFor = "string (optional) — Filter by platform (ResourceAffected). One of: " + p.joined + ". Case-insensitive."
	} else {
		p.helpFor = "string (optional) — Filter by platform (ResourceAffected). One of: " + p.joined +
			". Case-insensitive; common spellings (Shopify App, mcp, cli, Command Line Interface (CLI)) are aliased."
	}
	return p
}

// canonical returns the stored form of a platform named by value (a name
// or an alias, in any letter case; already trimmed and not blank): the
// canonical name, or "General".
func (p *platformList) canonical(value string) (string, bool) {
	name, ok := p.lookup[foldCase(value)]
	if name == "general" {
		name = generalPlatform
	}
	return name, ok
}

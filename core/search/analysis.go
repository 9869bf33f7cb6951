package search

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2/analysis"
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	unicodetok "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Names of the analysis components this package defines.
const (
	foldFilterName = "patchbay_fold"
	textAnalyzer   = "patchbay_text"
)

// Field names of a ticket document.
const (
	fieldSubject   = "subject"
	fieldComments  = "comments"    // one array element per comment body, oldest first
	fieldCommentID = "comment_ids" // stored only: the ids of fieldComments, space separated
	fieldPeople    = "people"      // requester name, email, phone, identity values
	fieldTagText   = "tag_text"    // the tags as words
	fieldStatus    = "status"
	fieldPriority  = "priority"
	fieldChannel   = "channel"
	fieldVia       = "via"
	fieldGroup     = "group" // lower-cased
	fieldTags      = "tags"
	fieldAssignee  = "assignee"  // agent id, "none" when unassigned
	fieldRequester = "requester" // requester user id
	fieldCreated   = "created"
	fieldUpdated   = "updated"
	fieldTicketID  = "tid" // the ticket id as a number, for id windows
)

// textFields are the fields a bare word or phrase is looked for in.
var textFields = [...]string{fieldSubject, fieldComments, fieldPeople, fieldTagText}

func init() {
	// The bleve registry is the library's one way to name an analysis
	// component in a mapping; registration happens once, here.
	if err := registry.RegisterTokenFilter(foldFilterName, func(map[string]any, *registry.Cache) (analysis.TokenFilter, error) {
		return foldFilter{}, nil
	}); err != nil {
		panic(err)
	}
}

// foldFilter removes diacritics from each token ("Café" → "Cafe",
// "Žluťoučký" → "Zlutoucky"). Unlike bleve's asciifolding character
// filter it works on tokens, so each token's byte offsets still point into
// the original text (snippets are cut from it).
type foldFilter struct{}

// Filter implements analysis.TokenFilter.
func (foldFilter) Filter(in analysis.TokenStream) analysis.TokenStream {
	for _, tok := range in {
		if ascii(tok.Term) {
			continue
		}
		if out := foldText(string(tok.Term)); out != "" {
			tok.Term = []byte(out)
		}
	}
	return in
}

// letters are the Latin letters that do not decompose into a base letter
// and a combining mark, spelt the way a keyboard without them would.
var letters = strings.NewReplacer("ø", "o", "Ø", "O", "æ", "ae", "Æ", "AE", "œ", "oe", "Œ", "OE", "ß", "ss",
	"đ", "d", "Đ", "D", "ł", "l", "Ł", "L", "þ", "th", "Þ", "TH", "ð", "d", "Ð", "D", "ı", "i")

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// foldText removes diacritics, as the text analyzer does to each token
// (prefix queries, which are not analyzed, use it too).
func foldText(s string) string {
	if ascii([]byte(s)) {
		return s
	}
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		return s
	}
	return letters.Replace(out)
}

// newMapping returns the index mapping of ticket documents: the text fields
// go through the text analyzer (Unicode word segmentation, lower case,
// diacritics folded, English possessives and Snowball stemming), with term
// vectors so that a hit tells which comment matched and where; the filter
// fields are exact keywords and dates, with doc values for sorting.
func newMapping() (*mapping.IndexMappingImpl, error) {
	m := mapping.NewIndexMapping()
	if err := m.AddCustomAnalyzer(textAnalyzer, map[string]any{
		"type":          "custom",
		"tokenizer":     unicodetok.Name,
		"token_filters": []any{lowercase.Name, foldFilterName, en.PossessiveName, en.SnowballStemmerName},
	}); err != nil {
		return nil, fmt.Errorf("search: text analyzer: %w", err)
	}
	m.DefaultAnalyzer = textAnalyzer
	m.IndexDynamic = false
	m.StoreDynamic = false
	m.DocValuesDynamic = false

	doc := mapping.NewDocumentStaticMapping()
	text := func(name string) {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = textAnalyzer
		f.Store = false
		f.IncludeTermVectors = true
		f.IncludeInAll = false
		f.DocValues = false
		doc.AddFieldMappingsAt(name, f)
	}
	for _, name := range textFields {
		text(name)
	}
	ids := mapping.NewTextFieldMapping()
	ids.Index = false
	ids.Store = true
	ids.IncludeInAll = false
	ids.IncludeTermVectors = false
	ids.DocValues = false
	doc.AddFieldMappingsAt(fieldCommentID, ids)
	for _, name := range []string{fieldStatus, fieldPriority, fieldChannel, fieldVia, fieldGroup, fieldTags, fieldAssignee, fieldRequester} {
		f := mapping.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = false
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		doc.AddFieldMappingsAt(name, f)
	}
	for _, name := range []string{fieldCreated, fieldUpdated} {
		f := mapping.NewDateTimeFieldMapping()
		f.Store = false
		f.IncludeInAll = false
		f.DocValues = true // sort=created_at|updated_at
		doc.AddFieldMappingsAt(name, f)
	}
	tid := mapping.NewNumericFieldMapping()
	tid.Store = false
	tid.IncludeInAll = false
	tid.DocValues = false
	doc.AddFieldMappingsAt(fieldTicketID, tid)
	m.DefaultMapping = doc
	return m, nil
}

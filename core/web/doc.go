// Package web serves the agent workspace: the browser application in which
// people sign in, work the inbox and answer tickets.
//
// The workspace is a client of the public API: its pages are a small
// server-rendered html/template shell plus hand-written ES modules (no
// bundler, no Node, no outside requests), embedded in the binary with
// embed. Every read and write goes through /api/v1 with the session cookie
// and, on writes, the X-CSRF-Token header (core/api/session.go); this
// package never opens the store. Responses carry a strict
// Content-Security-Policy (scripts and styles from this origin only, no
// inline code, frame-ancestors 'none'), nosniff and no-referrer.
package web

package store

import (
	"encoding/binary"
	"time"
)

// Key prefixes. Every key starts with a short ASCII prefix ending in '/';
// numbers are 8-byte big-endian so that byte order is numeric order;
// "inv(id)" is ^id, so that ascending key order lists newest first; string
// parts are separated by 0x00 (instance names, statuses, identity types and
// keys never contain it: the store rejects them).
const (
	pSeq        = "seq/" // seq/<name> -> u64 last issued
	pTicket     = "t/"   // t/<id> -> ticket JSON
	pComment    = "c/"   // c/<id> -> comment JSON
	pTicketCmts = "tc/"  // tc/<ticket><comment> -> ""
	pRaw        = "raw/" // raw/<comment> -> raw provider payload (up to MaxInlineRaw bytes)
	pRawInfo    = "rwi/" // rwi/<comment> -> RawInfo JSON (content type, size, blob attachment id)
	pUser       = "u/"   // u/<id> -> user JSON
	pIdentity   = "idn/" // idn/<type>0<value> -> u64 user id
	pIxAll      = "xa/"  // xa/<inv id> -> ""
	pIxStatus   = "xs/"  // xs/<status>0<inv id> -> ""
	pIxChannel  = "xc/"  // xc/<channel>0<inv id> -> ""
	pIxReq      = "xr/"  // xr/<user><inv id> -> ""
	pIxAssignee = "xg/"  // xg/<user><inv id> -> "" (only when assigned)
	pIxSolved   = "xv/"  // xv/<solved_at unix ns><id> -> "" (solved tickets)
	pIxTag      = "xt/"  // xt/<tag>0<inv id> -> "" (one per tag)
	pIxPriority = "xp/"  // xp/<priority>0<inv id> -> "" (only when set)
	pIxGroup    = "xq/"  // xq/<group>0<inv id> -> "" (only when set)
	pIxVia      = "xw/"  // xw/<via>0<inv id> -> ""
	pIxUpdated  = "xu/"  // xu/<updated_at unix ns><id> -> "" (oldest change first)
	pMeta       = "mt/"  // mt/<name> -> store metadata (index format version)
	pConv       = "cv/"  // cv/<instance>0<conversation key> -> u64 latest ticket
	pConvIn     = "cl/"  // cl/<instance>0<conversation key> -> u64 latest inbound unix ns
	pExtIn      = "ei/"  // ei/<instance>0<provider msg id> -> <ticket><comment>
	pExtOut     = "eo/"  // eo/<instance>0<provider msg id> -> u64 comment
	pOutbox     = "ob/"  // ob/<comment> -> outbox entry JSON
	pOutboxDue  = "od/"  // od/<due unix ns><comment> -> ""
	pFailed     = "obf/" // obf/<instance>0<comment> -> "" (replies the outbox gave up on)
	pEvent      = "ev/"  // ev/<seq> -> event JSON
	pToken      = "tk/"  // tk/<hash> -> token JSON
	pTokenID    = "ti/"  // ti/<id> -> hash
	pIdem       = "im/"  // im/<scope>0<key> -> idempotency record JSON (Badger TTL)
	pState      = "st/"  // st/<instance>0<key> -> value
	pAttMeta    = "am/"  // am/<id> -> attachment meta JSON (staged or stored)
	pAttChunk   = "ac/"  // ac/<id>0<u32 chunk> -> bytes
	pStagedAt   = "sa/"  // sa/<staged unix ns><id> -> "" (staged, not yet referenced)
	pPassword   = "pw/"  // pw/<user> -> password credential JSON (argon2id hash)
	pSession    = "ss/"  // ss/<session hash> -> workspace session JSON (Badger TTL)
)

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func getU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func key(prefix string, parts ...[]byte) []byte {
	n := len(prefix)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix...)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// str2 joins two strings with the 0x00 separator.
func str2(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func strSep(a string) []byte { return str2(a, "") }

func inv(id uint64) []byte { return u64(^id) }

func ticketKey(id uint64) []byte  { return key(pTicket, u64(id)) }
func commentKey(id uint64) []byte { return key(pComment, u64(id)) }
func userKey(id uint64) []byte    { return key(pUser, u64(id)) }
func rawKey(id uint64) []byte     { return key(pRaw, u64(id)) }
func rawInfoKey(id uint64) []byte { return key(pRawInfo, u64(id)) }
func ticketCommentKey(t, c uint64) []byte {
	return key(pTicketCmts, u64(t), u64(c))
}
func identityKey(typ, value string) []byte { return key(pIdentity, str2(typ, value)) }
func convKey(instance, conv string) []byte { return key(pConv, str2(instance, conv)) }
func convInKey(instance, conv string) []byte {
	return key(pConvIn, str2(instance, conv))
}
func extInKey(instance, ext string) []byte { return key(pExtIn, str2(instance, ext)) }
func extOutKey(instance, ext string) []byte {
	return key(pExtOut, str2(instance, ext))
}
func outboxKey(commentID uint64) []byte { return key(pOutbox, u64(commentID)) }
func failedKey(instance string, commentID uint64) []byte {
	return key(pFailed, []byte(instance), []byte{0}, u64(commentID))
}
func outboxDueKey(due time.Time, commentID uint64) []byte {
	return key(pOutboxDue, u64(uint64(due.UnixNano())), u64(commentID))
}
func eventKey(seq uint64) []byte         { return key(pEvent, u64(seq)) }
func tokenKey(hash string) []byte        { return key(pToken, []byte(hash)) }
func tokenIDKey(id uint64) []byte        { return key(pTokenID, u64(id)) }
func idemKey(scope, k string) []byte     { return key(pIdem, str2(scope, k)) }
func passwordKey(userID uint64) []byte   { return key(pPassword, u64(userID)) }
func sessionKey(hash string) []byte      { return key(pSession, []byte(hash)) }
func stateKey(instance, k string) []byte { return key(pState, str2(instance, k)) }
func attMetaKey(id string) []byte        { return key(pAttMeta, []byte(id)) }
func attChunkPrefix(id string) []byte    { return key(pAttChunk, strSep(id)) }
func attChunkKey(id string, n uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return key(pAttChunk, strSep(id), b[:])
}
func stagedAtKey(at time.Time, id string) []byte {
	return key(pStagedAt, u64(uint64(at.UnixNano())), []byte(id))
}
func updatedKey(at time.Time, id uint64) []byte {
	return key(pIxUpdated, u64(uint64(at.UnixNano())), u64(id))
}
func metaKey(name string) []byte { return key(pMeta, []byte(name)) }
func solvedKey(at time.Time, id uint64) []byte {
	return key(pIxSolved, u64(uint64(at.UnixNano())), u64(id))
}

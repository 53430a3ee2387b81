//! The Lua scripts of the Redis directory: one per directory call, each atomic (Redis runs
//! a script to the end before any other command), so a claim cannot race another claim
//! and a heartbeat cannot race a takeover. The rules are those of `cluster/memory.rs`.
//!
//! Every key a script is given comes in `KEYS`. Two kinds of key are computed inside the
//! scripts from what a record says, because the caller cannot know them beforehand: the
//! lease of a record's owner (`<prefix>node:<owner>`) and that owner's `owns` set
//! (`<prefix>owns:<owner>`). They carry the same `{openrtmp}` hash tag as every other key
//! (the prefix is `ARGV[1]`), so they are in the same slot and the scripts stay valid on
//! Redis Cluster.
//!
//! Replies are arrays of strings and integers (Lua numbers become integers, `false`
//! becomes nil); `cluster/redis/reply.rs` reads them without trusting their shape.

/// `heartbeat`: writes the lease and re-asserts the owned streams.
///
/// KEYS: 1 lease, 2 node set, 3 epoch counter, 4 this node's `owns` set, 5.. one stream
/// record per owned stream.
/// ARGV: 1 prefix, 2 node id, 3 process epoch, 4 rtmp url, 5 state, 6 connections,
/// 7 streams, 8 egress bps, 9 lease TTL ms, 10 record TTL ms, 11.. the stream epoch of
/// each record (same order as KEYS 5..).
///
/// Reply: `{restored, {{index, owner, owner_epoch, epoch, rtmp, state}, ...}}` where
/// `index` is 1-based into the owned streams and `rtmp`/`state` are the new owner's when
/// its lease lives with the record's epoch (else `''`/`active`).
pub(super) const HEARTBEAT: &str = r#"
local prefix, node, epoch, record_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[10]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', epoch, 'rtmp', ARGV[4], 'state', ARGV[5],
  'connections', ARGV[6], 'streams', ARGV[7], 'egress_bps', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('SADD', KEYS[2], node)
local counter = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
local restored, lost = 0, {}
for i = 5, #KEYS do
  local key, want = KEYS[i], ARGV[i + 6]
  local r = redis.call('HMGET', key, 'owner', 'owner_epoch', 'epoch')
  if not r[1] then
    redis.call('HSET', key, 'owner', node, 'owner_epoch', epoch, 'epoch', want)
    redis.call('PEXPIRE', key, record_ttl)
    redis.call('SADD', KEYS[4], key)
    local n = tonumber(want) or 0
    if n > counter then
      counter = n
      redis.call('SET', KEYS[3], want)
    end
    restored = restored + 1
  elseif r[1] == node and r[2] == epoch and r[3] == want then
    redis.call('PEXPIRE', key, record_ttl)
  else
    -- The owner's lease: same hash tag, same slot (see the module docs).
    local l = redis.call('HMGET', prefix .. 'node:' .. r[1], 'epoch', 'rtmp', 'state')
    local rtmp, state = '', 'active'
    if l[1] and l[1] == r[2] then
      rtmp, state = l[2] or '', l[3] or 'active'
    end
    lost[#lost + 1] = {i - 4, r[1], r[2] or '', r[3] or '0', rtmp, state}
    if r[1] ~= node then
      redis.call('SREM', KEYS[4], key)
    end
  end
end
redis.call('PEXPIRE', KEYS[4], record_ttl)
return {restored, lost}
"#;

/// `claim`: takes the stream unless another live, active node holds it.
///
/// KEYS: 1 stream record, 2 epoch counter, 3 the claimer's `owns` set.
/// ARGV: 1 prefix, 2 node id, 3 process epoch, 4 takeover (`1`/`0`), 5 record TTL ms.
///
/// Reply: `{1, epoch}` when claimed; `{0, owner, owner_epoch, epoch, rtmp, state}` when
/// held.
pub(super) const CLAIM: &str = r#"
local prefix, node, epoch = ARGV[1], ARGV[2], ARGV[3]
local r = redis.call('HMGET', KEYS[1], 'owner', 'owner_epoch', 'epoch')
if r[1] then
  -- The owner's lease and owns set: same hash tag, same slot (see the module docs).
  local l = redis.call('HMGET', prefix .. 'node:' .. r[1], 'epoch', 'rtmp', 'state')
  local live = l[1] and l[1] == r[2]
  local itself = r[1] == node and r[2] == epoch
  if live and ARGV[4] ~= '1' and not itself and l[3] ~= 'draining' then
    return {0, r[1], r[2] or '', r[3] or '0', l[2] or '', l[3] or 'active'}
  end
  if r[1] ~= node then
    redis.call('SREM', prefix .. 'owns:' .. r[1], KEYS[1])
  end
end
local e = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'owner', node, 'owner_epoch', epoch, 'epoch', e)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[3], KEYS[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {1, e}
"#;

/// `release`: removes the record if it still names this node, process epoch and stream
/// epoch.
///
/// KEYS: 1 stream record, 2 this node's `owns` set. ARGV: 1 node id, 2 process epoch,
/// 3 stream epoch. Reply: 1 when removed, 0 when left alone.
pub(super) const RELEASE: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'owner', 'owner_epoch', 'epoch')
if r[1] == ARGV[1] and r[2] == ARGV[2] and r[3] == ARGV[3] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], KEYS[1])
  return 1
end
return 0
"#;

/// `resolve`: the record and its owner's lease, if that lease lives with the record's
/// process epoch.
///
/// KEYS: 1 stream record. ARGV: 1 prefix.
/// Reply: nil, or `{owner, owner_epoch, epoch, rtmp, state}`.
pub(super) const RESOLVE: &str = r#"
local r = redis.call('HMGET', KEYS[1], 'owner', 'owner_epoch', 'epoch')
if not r[1] then
  return false
end
-- The owner's lease: same hash tag, same slot (see the module docs).
local l = redis.call('HMGET', ARGV[1] .. 'node:' .. r[1], 'epoch', 'rtmp', 'state')
if not l[1] or l[1] ~= r[2] then
  return false
end
return {r[1], r[2], r[3] or '0', l[2] or '', l[3] or 'active'}
"#;

/// `nodes`: every live lease; ids whose lease is gone leave the node set.
///
/// KEYS: 1 node set. ARGV: 1 prefix.
/// Reply: `{{id, epoch, rtmp, state, connections, streams, egress_bps, pttl}, ...}`.
pub(super) const NODES: &str = r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  -- Each member's lease: same hash tag, same slot (see the module docs).
  local key = ARGV[1] .. 'node:' .. id
  local l = redis.call('HMGET', key, 'epoch', 'rtmp', 'state', 'connections', 'streams',
    'egress_bps')
  if l[1] then
    out[#out + 1] = {id, l[1], l[2] or '', l[3] or 'active', l[4] or '0', l[5] or '0',
      l[6] or '0', redis.call('PTTL', key)}
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out
"#;

/// `leave`: the lease (if it is still this process's) and every record naming this node
/// with this process epoch go.
///
/// KEYS: 1 lease, 2 node set, 3 this node's `owns` set. ARGV: 1 node id, 2 process epoch.
/// Reply: the number of records removed.
pub(super) const LEAVE: &str = r#"
if redis.call('HGET', KEYS[1], 'epoch') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
local removed = 0
-- The members are record keys this node wrote: same hash tag, same slot.
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local r = redis.call('HMGET', key, 'owner', 'owner_epoch')
  if r[1] == ARGV[1] and r[2] == ARGV[2] then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[3], key)
    removed = removed + 1
  elseif r[1] ~= ARGV[1] then
    redis.call('SREM', KEYS[3], key)
  end
end
return removed
"#;

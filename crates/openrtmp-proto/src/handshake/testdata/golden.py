#!/usr/bin/env python3
"""Independent reference for the golden hashes in ../tests.rs (Python hashlib/hmac only).

Run from this directory: python3 golden.py
"""
import hmac, hashlib, struct
M=(1<<64)-1
def random(seed):
    st=seed; out=b""
    for _ in range(3032//8):
        st=(st+0x9E3779B97F4A7C15)&M; z=st
        z=((z^(z>>30))*0xBF58476D1CE4E5B9)&M
        z=((z^(z>>27))*0x94D049BB133111EB)&M
        z^=z>>31; out+=struct.pack(">Q",z)
    return out
EPOCH=struct.pack(">I",0x00ABCDEF)
r=random(1)
c1=bytes([1,2,3,4,0,0,0,0])+bytes(((i*7+3)&0xff) for i in range(8,1536))
out=b"\x03"+EPOCH+b"\0"*4+r[:1528]+c1
print("simple", hashlib.sha256(out).hexdigest())
suffix=bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FP=b"Genuine Adobe Flash Player 001"; FMS=b"Genuine Adobe Flash Media Server 001"
def hm(k,m): return hmac.new(k,m,hashlib.sha256).digest()
def off(p,base): return sum(p[base:base+4])%728+base+4
ff=open("ffmpeg_c0c1.bin","rb").read()[1:]
o=off(ff,8); assert hm(FP, ff[:o]+ff[o+32:])==ff[o:o+32]
c1d=ff[o:o+32]
s1=bytearray(EPOCH+bytes([3,5,1,1])+r[:1528]); so=off(s1,8)
s1[so:so+32]=hm(FMS, bytes(s1[:so]+s1[so+32:]))
body=r[1528:]; s2=body+hm(hm(FMS+suffix,c1d),body)
print("digest", hashlib.sha256(b"\x03"+bytes(s1)+s2).hexdigest())

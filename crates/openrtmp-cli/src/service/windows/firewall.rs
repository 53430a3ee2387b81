//! Windows Firewall inbound rules through COM (`INetFwPolicy2`), the in-process equivalent
//! of `netsh advfirewall firewall add rule`. Needs an elevated process.

// COM calls are `unsafe` in the `windows` crate; each call below passes owned, valid
// interface pointers and BSTRs and nothing else.
#![allow(unsafe_code)]

use std::path::Path;

use anyhow::{anyhow, Context as _};
use windows::core::{Interface, BSTR};
use windows::Win32::Foundation::{E_ACCESSDENIED, VARIANT_TRUE};
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, INetFwRule, INetFwRules, NetFwPolicy2, NetFwRule, NET_FW_ACTION_ALLOW,
    NET_FW_IP_PROTOCOL_TCP, NET_FW_PROFILE2_ALL, NET_FW_RULE_DIR_IN,
};
use windows::Win32::System::Com::{
    CoCreateInstance, CoInitializeEx, CoUninitialize, CLSCTX_INPROC_SERVER,
    COINIT_APARTMENTTHREADED,
};
use windows::Win32::System::Ole::IEnumVARIANT;
use windows::Win32::System::Variant::{VARIANT, VT_DISPATCH};

/// COM initialised on this thread for the guard's lifetime.
struct Com;

impl Com {
    fn init() -> anyhow::Result<Self> {
        // S_FALSE (already initialised) is a success and must be balanced too.
        unsafe { CoInitializeEx(None, COINIT_APARTMENTTHREADED) }
            .ok()
            .context("cannot initialise COM")?;
        Ok(Com)
    }
}

impl Drop for Com {
    fn drop(&mut self) {
        unsafe { CoUninitialize() };
    }
}

fn com_error(e: windows::core::Error, doing: &str) -> anyhow::Error {
    if e.code() == E_ACCESSDENIED {
        anyhow!("cannot {doing}: access denied; run from an elevated prompt (Run as administrator)")
    } else {
        anyhow!("cannot {doing}: {e}")
    }
}

fn rules() -> windows::core::Result<INetFwRules> {
    unsafe {
        let policy: INetFwPolicy2 = CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER)?;
        policy.Rules()
    }
}

/// Adds an enabled inbound rule allowing TCP `ports` (`1935,443`) to `program`, in every
/// profile.
pub(super) fn add_rule(name: &str, ports: &str, program: &Path) -> anyhow::Result<()> {
    let _com = Com::init()?;
    let result: windows::core::Result<()> = unsafe {
        (|| {
            let rules = rules()?;
            let rule: INetFwRule = CoCreateInstance(&NetFwRule, None, CLSCTX_INPROC_SERVER)?;
            rule.SetName(&BSTR::from(name))?;
            rule.SetDescription(&BSTR::from(
                "Inbound RTMP/RTMPS to OpenRTMP; added by openrtmp service install",
            ))?;
            rule.SetApplicationName(&BSTR::from(program.to_string_lossy().as_ref()))?;
            rule.SetProtocol(NET_FW_IP_PROTOCOL_TCP.0)?;
            rule.SetLocalPorts(&BSTR::from(ports))?;
            rule.SetDirection(NET_FW_RULE_DIR_IN)?;
            rule.SetAction(NET_FW_ACTION_ALLOW)?;
            rule.SetProfiles(NET_FW_PROFILE2_ALL.0)?;
            rule.SetGrouping(&BSTR::from("OpenRTMP"))?;
            rule.SetEnabled(VARIANT_TRUE)?;
            rules.Add(&rule)
        })()
    };
    result.map_err(|e| com_error(e, "add the firewall rule"))
}

/// The names of all rules.
fn rule_names(rules: &INetFwRules) -> windows::core::Result<Vec<String>> {
    let mut names = Vec::new();
    unsafe {
        let all: IEnumVARIANT = rules._NewEnum()?.cast()?;
        loop {
            let mut item = [VARIANT::default()];
            let mut fetched = 0u32;
            let hr = all.Next(&mut item, &mut fetched);
            if hr.is_err() {
                return Err(hr.into());
            }
            if fetched == 0 {
                break;
            }
            let variant = &item[0].Anonymous.Anonymous;
            if variant.vt == VT_DISPATCH {
                if let Some(dispatch) = &*variant.Anonymous.pdispVal {
                    if let Ok(rule) = dispatch.cast::<INetFwRule>() {
                        names.push(rule.Name()?.to_string());
                    }
                }
            }
        }
    }
    Ok(names)
}

/// Removes every rule whose name starts with `prefix`; returns their names.
pub(super) fn remove_rules(prefix: &str) -> anyhow::Result<Vec<String>> {
    let _com = Com::init()?;
    let rules = rules().map_err(|e| com_error(e, "open the firewall policy"))?;
    let names = rule_names(&rules).map_err(|e| com_error(e, "list the firewall rules"))?;
    let mut removed = Vec::new();
    for name in names.into_iter().filter(|n| n.starts_with(prefix)) {
        unsafe { rules.Remove(&BSTR::from(name.as_str())) }
            .map_err(|e| com_error(e, "remove the firewall rule"))?;
        removed.push(name);
    }
    Ok(removed)
}

/// Removes the rule called `name`.
pub(super) fn remove_rule(name: &str) -> anyhow::Result<()> {
    let _com = Com::init()?;
    let rules = rules().map_err(|e| com_error(e, "open the firewall policy"))?;
    unsafe { rules.Remove(&BSTR::from(name)) }.map_err(|e| com_error(e, "remove the firewall rule"))
}

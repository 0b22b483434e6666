// Shows whether the browser holds a live session. The tokens themselves live
// in httpOnly cookies and are never visible here.
const status = document.getElementById("status");
const res = await fetch("/api/me", { credentials: "same-origin" });
if (res.ok) {
  const { user } = await res.json();
  status.textContent = `Signed in as ${user.email}.`;
} else {
  status.textContent = "You are not signed in.";
}

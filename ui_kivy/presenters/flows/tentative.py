"""The 仮投票 flow (公職選挙法 50条): the form, and 仮投票 of a person not on the roll.

The form is reached three ways: from a 投票済 hard stop (the check-in flow's action, contests
refused as 投票済 preselected), from the confirm screen when the supervisor doubts the voter's
identity, and, behind the supervisor PIN, for a person not found on the roll (氏名 on the kana pad,
then the declared birth date or none). Its only write is a ``tentative`` entry through the
service: never a check-in, never a ballot. Never imports Kivy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from appliance import procedures as P
from appliance.wareki import WarekiInvalid
from ui_kivy.presenters import procedures as proc
from ui_kivy.presenters.flows.checkin import CheckinPresenter
from ui_kivy.presenters.flows.router import Intent, Router, Screen, illegal
from ui_kivy.presenters.flows.supervisor import SupervisorPresenter
from ui_kivy.presenters.search import ERA_KEYS, BirthInput, SearchPresenter, birth_date, birth_digit, edit_kana


@dataclass(frozen=True)
class DeclareState:
    """仮投票 of a person not found on the roll: the name (kana) and birth date they declare."""

    name: str = ""
    birth: BirthInput = field(default_factory=BirthInput)
    message: str = ""

    @property
    def name_text(self) -> str:
        return f"申立ての氏名（カナ）: {self.name or '＿'}"


class TentativePresenter:
    def __init__(self, router: Router, checkin: CheckinPresenter, supervisor: SupervisorPresenter,
                 search: SearchPresenter) -> None:
        self.router = router
        self.search = search
        self.checkin = checkin
        self.supervisor = supervisor
        self.tentative: proc.TentativeForm | None = None
        self.declare = DeclareState()
        proc.install_tentative_action(checkin, self.show)
        supervisor.after_pin("declare", self._declare_after_pin)
        router.on_voter_done(self._forget)

    def _forget(self) -> None:
        self.tentative = None
        self.declare = DeclareState()

    def show(self, form: proc.TentativeForm) -> None:
        self.router.go(Intent.TENTATIVE)
        self.tentative = form
        self.router.notify()

    def doubt_identity(self) -> None:
        """The supervisor (or a 立会人) doubts the voter's identity on the confirm screen: 仮投票."""
        c = self.checkin.confirm
        if self.router.screen is not Screen.CONFIRM or c is None:
            raise illegal(self.router.screen, Intent.TENTATIVE)
        could = [p.name for p in c.lines if p.ok]
        form = proc.tentative_form(self.router.service.config, c.voter_id, c.name, could)
        self.show(replace(form, reason=P.TentativeReason.SUPERVISOR_REFUSAL.value))

    # -- the form ------------------------------------------------------------------------------
    def _form(self) -> proc.TentativeForm:
        if self.router.screen is not Screen.TENTATIVE or self.tentative is None:
            raise illegal(self.router.screen, Intent.TENTATIVE)
        return self.tentative

    def tentative_toggle(self, contest: str) -> None:
        f = self._form()
        if f.done is None:
            self.tentative = proc.toggle(f, contest)
        self.router.notify()

    def tentative_reason(self, reason: str) -> None:
        f = self._form()
        if f.done is None and reason in dict(f.reasons):
            self.tentative = replace(f, reason=reason, message="")
        self.router.notify()

    def tentative_decided_by(self, who: str) -> None:
        f = self._form()
        if f.done is None:
            self.tentative = replace(f, decided_by=who, message="")
        self.router.notify()

    def submit_tentative(self) -> bool:
        f = self._form()
        svc = self.router.service
        self.tentative = proc.submit(f, svc, self.router.clerk, svc.config)
        self.router.notify()
        return self.tentative.done is not None

    def leave_tentative(self) -> None:
        """次の方へ (after recording) or 取りやめ (nothing recorded): back to 待受."""
        f = self._form()
        self.router.go(Intent.NEXT if f.done is not None else Intent.BACK)
        self.router.voter_done()
        self.router.notify()

    # -- a person not on the roll (behind the PIN) ---------------------------------------------
    def declare_unlisted(self) -> None:
        """名簿に見つからない方（仮投票）: from the search screens, through the supervisor PIN."""
        if self.router.screen not in (Screen.KANA, Screen.RESULTS):
            raise illegal(self.router.screen, Intent.SUPERVISOR)
        self.declare = DeclareState(name=self.search.state.query.strip())  # the kana typed there
        self.supervisor.ask_pin("declare")

    def _declare_after_pin(self) -> None:
        self.router.go(Intent.DECLARE)
        self.router.notify()

    def declare_kana(self, key: str) -> None:
        if self.router.screen is not Screen.DECLARE_NAME:
            raise illegal(self.router.screen, Intent.DECLARE)
        q = edit_kana(self.declare.name, key)
        if q is not None and len(q) <= 40:
            self.declare = replace(self.declare, name=q, message="")
        self.router.notify()

    def declare_name_done(self) -> None:
        if self.router.screen is not Screen.DECLARE_NAME:
            raise illegal(self.router.screen, Intent.NEXT)
        if not self.declare.name.strip():
            self.declare = replace(self.declare, message="申し立てられた氏名をカナで入力してください")
            return self.router.tell(self.declare.message)
        self.router.go(Intent.NEXT)
        self.router.notify()

    def declare_era(self, era: str) -> None:
        if self.router.screen is not Screen.DECLARE_BIRTH or era not in ERA_KEYS:
            raise illegal(self.router.screen, Intent.DECLARE)
        self.declare = replace(self.declare, birth=BirthInput(era), message="")
        self.router.notify()

    def declare_digit(self, d: str) -> None:
        if self.router.screen is not Screen.DECLARE_BIRTH:
            raise illegal(self.router.screen, Intent.DECLARE)
        self.declare = replace(self.declare, birth=birth_digit(self.declare.birth, d), message="")
        self.router.notify()

    def declare_birth_next(self) -> None:
        b = self.declare.birth
        self.declare = replace(self.declare, birth=replace(b, field=min(2, b.field + 1)))
        self.router.notify()

    def declare_birth_clear(self) -> None:
        self.declare = replace(self.declare, birth=BirthInput(), message="")
        self.router.notify()

    def declare_done(self, skip_birth: bool = False) -> bool:
        """次へ (with the birth date typed) or 生年月日なしで次へ: the 仮投票 form."""
        if self.router.screen is not Screen.DECLARE_BIRTH:
            raise illegal(self.router.screen, Intent.NEXT)
        born = None
        if not skip_birth:
            try:
                born = birth_date(self.declare.birth)
            except WarekiInvalid as e:
                self.declare = replace(self.declare, message=str(e.args[0]))
                self.router.tell(self.declare.message)
                return False
        d = P.Declared(self.declare.name.strip(), born)
        self.router.go(Intent.NEXT)
        self.checkin.confirm = None
        self.tentative = proc.declared_form(self.router.service.config, d)
        self.router.notify()
        return True

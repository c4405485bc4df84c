// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice Two roles, each changed only after a delay, so users see a change coming.
/// @dev `admin` registers assets and markets, pauses assets, and proposes changes; `operator`
///      settles batches. A proposed operator or admin takes office only `changeDelay` seconds after
///      the proposal, and a new admin must accept (so a typo cannot orphan the contract). Proposing
///      again replaces the pending proposal and restarts its clock; proposing the current holder
///      neutralises it. A proposal is pending while its `notBefore` is not zero. The vault sets
///      `changeDelay` longer than its exit delay, so a user who exits as soon as a change is
///      proposed has withdrawn before it takes effect.
abstract contract Governed {
    /// @notice A proposed change: the value it would set and when it may take effect.
    struct Pending {
        address value;
        uint64 notBefore;
    }

    error NotAdmin();
    error NotOperator();
    error NothingPending();
    error TooEarly(uint256 notBefore);
    error NotPendingAdmin();
    error ZeroAddress();

    event OperatorProposed(address indexed operator, uint256 notBefore);
    event OperatorChanged(address indexed operator);
    event AdminProposed(address indexed admin, uint256 notBefore);
    event AdminChanged(address indexed admin);

    /// @notice Seconds between a proposal and the earliest moment it may take effect.
    uint256 public immutable changeDelay;

    address public admin;
    Pending public pendingAdmin;
    Pending public pendingOperator;

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin();
        _;
    }

    constructor(address admin_, uint256 changeDelay_) {
        if (admin_ == address(0)) revert ZeroAddress();
        admin = admin_;
        changeDelay = changeDelay_;
        emit AdminChanged(admin_);
    }

    /// @notice The address that may settle batches.
    function operator() public view virtual returns (address);

    /// @dev Installs `next` as the operator; called by the constructor and by `activateOperator`.
    function _setOperator(address next) internal virtual;

    /// @notice Proposes `next` as operator; anyone may activate it once the delay has passed.
    function proposeOperator(address next) external onlyAdmin {
        if (next == address(0)) revert ZeroAddress();
        pendingOperator = _propose(next);
        emit OperatorProposed(next, pendingOperator.notBefore);
    }

    function activateOperator() external {
        address next = _take(pendingOperator);
        delete pendingOperator;
        _setOperator(next);
        emit OperatorChanged(next);
    }

    /// @notice Proposes `next` as admin; `next` itself activates it once the delay has passed.
    function proposeAdmin(address next) external onlyAdmin {
        if (next == address(0)) revert ZeroAddress();
        pendingAdmin = _propose(next);
        emit AdminProposed(next, pendingAdmin.notBefore);
    }

    function activateAdmin() external {
        if (msg.sender != pendingAdmin.value) revert NotPendingAdmin();
        admin = _take(pendingAdmin);
        delete pendingAdmin;
        emit AdminChanged(msg.sender);
    }

    function _propose(address next) internal view returns (Pending memory) {
        return Pending(next, uint64(block.timestamp + changeDelay));
    }

    /// @dev The pending value, once its delay has passed; reverts before, or when nothing is pending.
    function _take(Pending storage pending) internal view returns (address) {
        if (pending.notBefore == 0) revert NothingPending();
        if (block.timestamp < pending.notBefore) revert TooEarly(pending.notBefore);
        return pending.value;
    }
}

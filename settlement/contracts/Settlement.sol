// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Governed} from "./Governed.sol";
import {IAllowlistHook} from "./IAllowlistHook.sol";
import {IERC20Like, TokenTransfers} from "./TokenTransfers.sol";

/// @title bluebook's settlement vault
/// @notice Holds users' ERC-20s and an internal ledger that the operator moves in batches of packed
///         trades and withdrawals; a user can always leave through the exit hatch.
/// @dev Invariants:
///      - Solvency: for every asset, `token.balanceOf(vault)` equals the sum of the ledger over all
///        accounts (tokens sent to the vault outside `deposit` are the only surplus). Deposits
///        credit what the vault's balance grew by; payouts check that it fell by the amount paid.
///      - No dust: every ledger balance is a whole number of the asset's engine units
///        (`factor` = 10**(token decimals - engine decimals) token units). A deposit that is not
///        whole reverts; trades and withdrawals carry engine units and are scaled by `factor`.
///      - Batches apply in order: `settleBatch` takes exactly `lastBatchId + 1`.
///      - A settled trade conserves each asset: the buyer pays `quote + buyerFee`, the seller gets
///        `quote - sellerFee`, the fee account (account 0) gets `buyerFee + sellerFee`.
///      - No balance is ever negative: a debit larger than the balance reverts the batch.
///      - Exits: once an account's exit delay has passed, no batch can touch it, and its owner
///        withdraws directly, whatever the operator or the admin do (pauses and hooks do not apply
///        to exits; only the token itself can refuse a transfer).
///
///      Packed batch (`settleBatch` payload), all integers big-endian:
///
///        header      2 bytes   uint16 tradeCount
///        trades      tradeCount x 32 bytes
///        withdrawals the rest, 16 bytes each
///
///      Trade, 32 bytes (one calldata word):
///
///        bytes  0..3   uint32  buyer account id
///        bytes  4..7   uint32  seller account id
///        bytes  8..9   uint16  market id
///        bytes 10..15  uint48  base amount, base engine units
///        bytes 16..21  uint48  quote amount, quote engine units (before fees)
///        bytes 22..26  int40   buyer fee, quote engine units, two's complement (< 0: a rebate)
///        bytes 27..31  int40   seller fee, likewise
///
///      A trade needs `quote + buyerFee >= 0`, `sellerFee <= quote` and `buyerFee + sellerFee >= 0`
///      (a rebate never exceeds the quote nor the other side's fee), else `BadFees`.
///
///      Withdrawal, 16 bytes, pays the account's own registered address:
///
///        bytes  0..3   uint32  account id
///        bytes  4..5   uint16  asset id
///        bytes  6..15  uint80  amount, engine units
///
///      All trades apply before all withdrawals. For any sequence the engine accepted, this order
///      never drives a balance below zero: deferring withdrawals only raises each intermediate
///      balance, and the final balances are the same.
contract Settlement is Governed {
    using TokenTransfers for IERC20Like;

    /// @notice A registered token. `factor` is token units per engine unit.
    struct Asset {
        IERC20Like token;
        uint64 factor;
        bool paused;
        bool gated;
    }

    struct Market {
        uint16 base;
        uint16 quote;
    }

    struct Account {
        address owner;
        uint40 exitRequestedAt;
    }

    /// @dev What a batch caches while it runs: the current market's assets, and the fees it owes
    ///      the fee account in the current quote asset (credited when the quote asset changes).
    struct BatchState {
        uint256 accountCount;
        uint256 market;
        uint256 base;
        uint256 quote;
        uint256 baseFactor;
        uint256 quoteFactor;
        bool baseGated;
        bool quoteGated;
        bool gated;
        uint256 fees;
    }

    /// @notice The account that collects fees and pays rebates.
    uint32 public constant FEE_ACCOUNT = 0;
    uint256 private constant HEADER_BYTES = 2;
    uint256 private constant TRADE_BYTES = 32;
    uint256 private constant WITHDRAWAL_BYTES = 16;
    uint256 private constant NO_MARKET = type(uint256).max;
    uint256 private constant NO_ACCOUNT = type(uint256).max;
    /// @dev 10**18 still fits `factor`'s 64 bits, and a 48-bit amount times it fits 108 bits.
    uint256 private constant MAX_SCALE_DECIMALS = 18;

    /// @notice Seconds between `requestExit` and the earliest `withdrawExit`.
    uint256 public immutable exitDelay;

    // The operator, the last batch id and the account and market counts share one slot, read
    // once per batch. 2**48 batches is nine million years at one a second.
    address private _operator;
    uint48 public lastBatchId;
    uint32 public accountCount;
    uint16 public marketCount;
    uint16 public assetCount;

    mapping(uint256 => Asset) private _assets;
    mapping(uint256 => IAllowlistHook) public hookOf;
    mapping(uint256 => Pending) public pendingHook;
    mapping(address => bool) public isRegisteredToken;
    mapping(uint256 => Market) private _markets;
    mapping(uint256 => Account) private _accounts;
    /// @notice The account registered to an address; 0 means none (the fee account is never
    ///         looked up by address).
    mapping(address => uint32) public accountOf;
    /// @dev Token units, `_balances[account][asset]`: an account's balances are consecutive slots.
    mapping(uint256 => uint256[1 << 16]) private _balances;
    /// @dev One bit per account id: set once its exit is requested. A batch reads one word per
    ///      account it touches, warm after the first of each 256 ids, and the account's record only
    ///      when the bit is set.
    uint256[1 << 24] private _exitFlags;

    bool private transient _entered;

    error Reentrancy();
    error DelaysOutOfOrder(uint256 exitDelay, uint256 changeDelay);
    error UnknownAsset(uint256 asset);
    error UnknownMarket(uint256 market);
    error UnknownAccount(uint256 account);
    error TokenAlreadyRegistered(address token);
    error UnsupportedDecimals(uint256 tokenDecimals, uint256 engineDecimals);
    error SameAsset(uint256 asset);
    error TooMany();
    error AssetPaused(uint256 asset);
    error NotAllowed(uint256 asset, address account);
    error DepositNotWhole(uint256 received, uint256 factor);
    error AccountExiting(uint256 account);
    error AccountExited(uint256 account);
    error NotAccountOwner(uint256 account);
    error ExitAlreadyRequested(uint256 account);
    error ExitNotRequested(uint256 account);
    error ExitNotReady(uint256 notBefore);
    error NothingToWithdraw();
    error BatchOutOfOrder(uint256 expected, uint256 given);
    error MalformedPayload(uint256 length);
    error BadFees(uint256 trade);
    error InsufficientBalance(uint256 account, uint256 asset);

    event AccountRegistered(uint32 indexed account, address indexed owner);
    /// @param amount engine units credited.
    event Deposited(uint32 indexed account, uint16 indexed asset, address indexed from, uint256 amount);
    /// @param count the number of trades; withdrawals each emit `Withdrawn`.
    event BatchSettled(uint64 indexed batchId, uint256 count, bytes32 payloadHash);
    /// @param amount engine units paid to `to`, the account's owner.
    event Withdrawn(uint64 indexed batchId, uint32 indexed account, uint16 indexed asset, address to, uint256 amount);
    event ExitRequested(uint32 indexed account, uint256 withdrawableAt);
    /// @param amount engine units paid to `to`, the account's owner.
    event ExitWithdrawn(uint32 indexed account, uint16 indexed asset, address to, uint256 amount);
    event AssetRegistered(uint16 indexed asset, address indexed token, uint256 factor, address hook);
    event MarketRegistered(uint16 indexed market, uint16 base, uint16 quote);
    event AssetPauseSet(uint16 indexed asset, bool paused);
    event HookProposed(uint16 indexed asset, address hook, uint256 notBefore);
    event HookChanged(uint16 indexed asset, address hook);

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    modifier onlyOperator() {
        if (msg.sender != _operator) revert NotOperator();
        _;
    }

    /// @param feeCollector the owner of the fee account (account 0), paid by its withdrawals.
    /// @param exitDelay_ must be shorter than `changeDelay_`.
    constructor(address admin_, address operator_, address feeCollector, uint256 exitDelay_, uint256 changeDelay_)
        Governed(admin_, changeDelay_)
    {
        if (exitDelay_ >= changeDelay_) revert DelaysOutOfOrder(exitDelay_, changeDelay_);
        if (operator_ == address(0) || feeCollector == address(0)) revert ZeroAddress();
        exitDelay = exitDelay_;
        _setOperator(operator_);
        _accounts[FEE_ACCOUNT].owner = feeCollector;
        accountCount = 1;
        emit OperatorChanged(operator_);
        emit AccountRegistered(FEE_ACCOUNT, feeCollector);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Registers `token` as the next asset id. Its decimals are read from the token;
    ///         `engineDecimals` is the engine's unit (at most 18 decimals coarser).
    /// @param hook an allowlist hook for a permissioned token, or zero.
    function registerAsset(IERC20Like token, uint8 engineDecimals, IAllowlistHook hook)
        external
        onlyAdmin
        returns (uint16 id)
    {
        if (isRegisteredToken[address(token)]) revert TokenAlreadyRegistered(address(token));
        uint256 decimals = token.decimals();
        if (engineDecimals > decimals || decimals - engineDecimals > MAX_SCALE_DECIMALS) {
            revert UnsupportedDecimals(decimals, engineDecimals);
        }
        id = assetCount;
        if (id == type(uint16).max) revert TooMany();
        assetCount = id + 1;
        uint64 factor = uint64(10 ** (decimals - engineDecimals));
        _assets[id] = Asset(token, factor, false, address(hook) != address(0));
        hookOf[id] = hook;
        isRegisteredToken[address(token)] = true;
        emit AssetRegistered(id, address(token), factor, address(hook));
    }

    function registerMarket(uint16 base, uint16 quote) external onlyAdmin returns (uint16 id) {
        if (base >= assetCount) revert UnknownAsset(base);
        if (quote >= assetCount) revert UnknownAsset(quote);
        if (base == quote) revert SameAsset(base);
        id = marketCount;
        if (id == type(uint16).max) revert TooMany();
        marketCount = id + 1;
        _markets[id] = Market(base, quote);
        emit MarketRegistered(id, base, quote);
    }

    /// @notice Stops deposits, trades and batch withdrawals of `asset` at once (an incident);
    ///         exits go on.
    function setPaused(uint16 asset, bool paused) external onlyAdmin {
        _asset(asset).paused = paused;
        emit AssetPauseSet(asset, paused);
    }

    /// @notice Proposes a new allowlist hook for `asset` (zero removes the gate); anyone may
    ///         activate it after `changeDelay`.
    function proposeHook(uint16 asset, IAllowlistHook hook) external onlyAdmin {
        _asset(asset);
        pendingHook[asset] = _propose(address(hook));
        emit HookProposed(asset, address(hook), pendingHook[asset].notBefore);
    }

    function activateHook(uint16 asset) external {
        IAllowlistHook hook = IAllowlistHook(_take(pendingHook[asset]));
        delete pendingHook[asset];
        hookOf[asset] = hook;
        _assets[asset].gated = address(hook) != address(0);
        emit HookChanged(asset, address(hook));
    }

    function operator() public view override returns (address) {
        return _operator;
    }

    function _setOperator(address next) internal override {
        _operator = next;
    }

    // ------------------------------------------------------------------ users

    /// @notice Deposits `amount` of `asset` from the caller, registering the caller's account on
    ///         its first deposit. Credits what the vault actually received.
    /// @return account the caller's account id.
    function deposit(uint16 asset, uint256 amount) external nonReentrant returns (uint32 account) {
        Asset storage a = _asset(asset);
        if (a.paused) revert AssetPaused(asset);
        if (a.gated) _requireAllowed(asset, msg.sender);
        account = accountOf[msg.sender];
        if (account == 0) {
            account = _register(msg.sender);
        } else if (_accounts[account].exitRequestedAt != 0) {
            revert AccountExiting(account);
        }
        uint256 received = a.token.pull(msg.sender, amount);
        uint256 factor = a.factor;
        if (received == 0 || received % factor != 0) revert DepositNotWhole(received, factor);
        _balances[account][asset] += received;
        emit Deposited(account, asset, msg.sender, received / factor);
    }

    /// @notice Starts the exit of `account`: the engine freezes it, batches may still settle it
    ///         for `exitDelay` seconds, then only `withdrawExit` moves its funds. Irreversible.
    function requestExit(uint32 account) external nonReentrant {
        Account storage record = _owned(account);
        if (record.exitRequestedAt != 0) revert ExitAlreadyRequested(account);
        record.exitRequestedAt = uint40(block.timestamp);
        _exitFlags[account >> 8] |= uint256(1) << (account & 255);
        emit ExitRequested(account, block.timestamp + exitDelay);
    }

    /// @notice Pays the whole balance of `asset` to the owner of `account`, once its exit delay
    ///         has passed. Needs no operator and ignores pauses and hooks.
    function withdrawExit(uint32 account, uint16 asset) external nonReentrant {
        Account storage record = _owned(account);
        uint256 requestedAt = record.exitRequestedAt;
        if (requestedAt == 0) revert ExitNotRequested(account);
        if (block.timestamp < requestedAt + exitDelay) revert ExitNotReady(requestedAt + exitDelay);
        Asset storage a = _asset(asset);
        uint256 amount = _balances[account][asset];
        if (amount == 0) revert NothingToWithdraw();
        _balances[account][asset] = 0;
        a.token.push(msg.sender, amount);
        emit ExitWithdrawn(account, asset, msg.sender, amount / a.factor);
    }

    // ------------------------------------------------------------------ operator

    /// @notice Applies a packed batch (layout in the contract's notes) as batch `batchId`.
    /// @dev Reverts as a whole on any bad item: the operator bisects to find it.
    function settleBatch(uint64 batchId, bytes calldata payload) external onlyOperator nonReentrant {
        if (batchId != lastBatchId + 1) revert BatchOutOfOrder(lastBatchId + 1, batchId);
        lastBatchId = uint48(batchId); // equal to lastBatchId + 1, which fit
        if (payload.length < HEADER_BYTES) revert MalformedPayload(payload.length);
        uint256 tradeCount = uint16(bytes2(payload[:HEADER_BYTES]));
        uint256 tradesEnd = HEADER_BYTES + tradeCount * TRADE_BYTES;
        if (payload.length < tradesEnd || (payload.length - tradesEnd) % WITHDRAWAL_BYTES != 0) {
            revert MalformedPayload(payload.length);
        }
        BatchState memory batch;
        batch.accountCount = accountCount;
        batch.market = NO_MARKET;
        uint256 offset = HEADER_BYTES;
        while (offset < tradesEnd) {
            uint256 word = _word(payload, offset);
            uint256 market = uint16(word >> 176);
            if (market != batch.market) _enterMarket(batch, market);
            if (!batch.gated) {
                uint256 next = offset;
                if (offset + TRADE_BYTES < tradesEnd) {
                    uint256 hot = _sharedAccount(word, _word(payload, offset + TRADE_BYTES));
                    if (hot != NO_ACCOUNT) next = _hotTrades(batch, payload, offset, tradesEnd, hot);
                }
                if (next == offset) next = _fastTrades(batch, payload, offset, tradesEnd);
                if (next != offset) {
                    offset = next;
                    continue;
                }
            }
            batch.fees += _settleTrade(batch, word, (offset - HEADER_BYTES) / TRADE_BYTES);
            offset += TRADE_BYTES;
        }
        _creditFees(batch);
        for (offset = tradesEnd; offset < payload.length; offset += WITHDRAWAL_BYTES) {
            _settleWithdrawal(batch, batchId, _word(payload, offset) >> 128);
        }
        emit BatchSettled(batchId, tradeCount, keccak256(payload));
    }

    /// @notice The reference path: applies one trade with every check, in the order the
    ///         invariants are argued in (each asset's debit before its credit, so no balance can
    ///         overflow: an asset's ledger total never exceeds the vault's balance of it).
    /// @return fees what the fee account is owed, token units of the market's quote asset.
    function _settleTrade(BatchState memory batch, uint256 word, uint256 index) private returns (uint256 fees) {
        uint256 buyer = word >> 224;
        uint256 seller = uint32(word >> 192);
        uint256 base = uint256(uint48(word >> 128)) * batch.baseFactor;
        int256 quote = int256(uint256(uint48(word >> 80)));
        int256 buyerFee = int40(uint40(word >> 40));
        int256 sellerFee = int40(uint40(word));
        if (quote + buyerFee < 0 || sellerFee > quote || buyerFee + sellerFee < 0) revert BadFees(index);
        _requireSettleable(batch, buyer);
        _requireSettleable(batch, seller);
        if (batch.baseGated) _requireAllowed(batch.base, _accounts[buyer].owner);
        if (batch.quoteGated) _requireAllowed(batch.quote, _accounts[seller].owner);
        uint256 quoteFactor = batch.quoteFactor;
        _debit(seller, batch.base, base);
        _credit(buyer, batch.base, base);
        _debit(buyer, batch.quote, uint256(quote + buyerFee) * quoteFactor);
        _credit(seller, batch.quote, uint256(quote - sellerFee) * quoteFactor);
        return uint256(buyerFee + sellerFee) * quoteFactor;
    }

    /// @notice The fast path: applies the run of trades from `offset` that are all in the batch's
    ///         current market and all common (two distinct, registered accounts, neither of which
    ///         ever requested an exit; valid fees; enough funds), and returns the offset of the
    ///         first trade it left alone (`end` if none). Each trade it applies moves exactly what
    ///         `_settleTrade` would; the caller gives any other trade to `_settleTrade`, which
    ///         applies it or names the error. Never called for a gated market.
    /// @dev Assembly because this loop is the cost of a batch and a batch is bounded by gas. It
    ///      reads a trade's balances, checks, then writes: equal to the reference order only
    ///      because the four slots are distinct (buyer != seller, base != quote). Slots are those
    ///      Solidity gives `_balances[account][asset]` and `_exitFlags[account >> 8]`.
    function _fastTrades(BatchState memory batch, bytes calldata payload, uint256 offset, uint256 end)
        private
        returns (uint256 next)
    {
        uint256 accounts = batch.accountCount;
        uint256 market = batch.market;
        uint256 baseAsset = batch.base;
        uint256 quoteAsset = batch.quote;
        uint256 baseFactor = batch.baseFactor;
        uint256 quoteFactor = batch.quoteFactor;
        uint256 fees;
        assembly ("memory-safe") {
            function exitRequested(account) -> requested {
                requested := and(shr(and(account, 255), sload(add(_exitFlags.slot, shr(8, account)))), 1)
            }
            function balancesOf(account) -> first {
                mstore(0, account)
                mstore(0x20, _balances.slot)
                first := keccak256(0, 0x40)
            }
            for { next := offset } lt(next, end) { next := add(next, 32) } {
                let w := calldataload(add(payload.offset, next))
                if iszero(eq(and(shr(176, w), 0xffff), market)) { break }
                let buyer := shr(224, w)
                let seller := and(shr(192, w), 0xffffffff)
                if or(eq(buyer, seller), iszero(and(lt(buyer, accounts), lt(seller, accounts)))) { break }
                if or(exitRequested(buyer), exitRequested(seller)) { break }
                let quote := and(shr(80, w), 0xffffffffffff)
                let buyerFee := signextend(4, shr(40, w))
                let sellerFee := signextend(4, w)
                let pays := add(quote, buyerFee)
                let gets := sub(quote, sellerFee)
                let owed := add(buyerFee, sellerFee)
                if or(or(slt(pays, 0), slt(gets, 0)), slt(owed, 0)) { break }
                let base := mul(and(shr(128, w), 0xffffffffffff), baseFactor)
                let buyerSlots := balancesOf(buyer)
                let sellerSlots := balancesOf(seller)
                let sellerBase := sload(add(sellerSlots, baseAsset))
                let buyerQuote := sload(add(buyerSlots, quoteAsset))
                pays := mul(pays, quoteFactor)
                if or(lt(sellerBase, base), lt(buyerQuote, pays)) { break }
                sstore(add(sellerSlots, baseAsset), sub(sellerBase, base))
                sstore(add(buyerSlots, baseAsset), add(sload(add(buyerSlots, baseAsset)), base))
                sstore(add(buyerSlots, quoteAsset), sub(buyerQuote, pays))
                let sellerQuote := add(sellerSlots, quoteAsset)
                sstore(sellerQuote, add(sload(sellerQuote), mul(gets, quoteFactor)))
                fees := add(fees, owed)
            }
        }
        batch.fees += fees * quoteFactor;
    }

    /// @return account the account that trades `first` and `second` (two packed trades) share,
    ///         if both are in the same market and each is between two distinct accounts; else
    ///         `NO_ACCOUNT`. When they share both accounts, the buyer of `first`.
    function _sharedAccount(uint256 first, uint256 second) private pure returns (uint256 account) {
        if (uint16(first >> 176) != uint16(second >> 176)) return NO_ACCOUNT;
        uint256 buyer = first >> 224;
        uint256 seller = uint32(first >> 192);
        if (buyer == seller) return NO_ACCOUNT;
        uint256 otherBuyer = second >> 224;
        uint256 otherSeller = uint32(second >> 192);
        if (buyer == otherBuyer || buyer == otherSeller) return buyer;
        if (seller == otherBuyer || seller == otherSeller) return seller;
        return NO_ACCOUNT;
    }

    /// @notice The market maker's path: like `_fastTrades`, for the run of trades from `offset`
    ///         that each have `hot` on exactly one side (buying or selling). `hot`'s two balances
    ///         of the market stay on the stack for the whole run and are written once at its end,
    ///         and its exit flag is read once; the other side of each trade is handled as in
    ///         `_fastTrades`. Returns `offset` untouched if `hot` is unknown or ever requested an
    ///         exit. Never called for a gated market.
    /// @dev Equal to applying the run's trades one by one with `_settleTrade`: every trade checks
    ///      before it writes, against the running balances, and the running balances are stored
    ///      before the caller looks at storage again (the stops all `break` to the final stores).
    ///      The other side is never `hot` (exactly one side is), so its two slots are distinct
    ///      from `hot`'s and from each other (base != quote). As in `_settleTrade`, each asset is
    ///      debited before it is credited, and `gets <= pays`, so no running balance overflows.
    function _hotTrades(BatchState memory batch, bytes calldata payload, uint256 offset, uint256 end, uint256 hot)
        private
        returns (uint256 next)
    {
        uint256 accounts = batch.accountCount;
        uint256 market = batch.market;
        uint256 baseAsset = batch.base;
        uint256 quoteAsset = batch.quote;
        uint256 baseFactor = batch.baseFactor;
        uint256 quoteFactor = batch.quoteFactor;
        uint256 fees;
        assembly ("memory-safe") {
            function exitRequested(account) -> requested {
                requested := and(shr(and(account, 255), sload(add(_exitFlags.slot, shr(8, account)))), 1)
            }
            function balancesOf(account) -> first {
                mstore(0, account)
                mstore(0x20, _balances.slot)
                first := keccak256(0, 0x40)
            }
            next := offset
            if and(lt(hot, accounts), iszero(exitRequested(hot))) {
                let hotSlots := balancesOf(hot)
                let hotBase := sload(add(hotSlots, baseAsset))
                let hotQuote := sload(add(hotSlots, quoteAsset))
                for {} lt(next, end) { next := add(next, 32) } {
                    let w := calldataload(add(payload.offset, next))
                    if iszero(eq(and(shr(176, w), 0xffff), market)) { break }
                    let buyer := shr(224, w)
                    let seller := and(shr(192, w), 0xffffffff)
                    let hotBuys := eq(buyer, hot)
                    // Exactly one side is hot; then `other` is the other side.
                    if iszero(xor(hotBuys, eq(seller, hot))) { break }
                    let other := xor(xor(buyer, seller), hot)
                    if or(iszero(lt(other, accounts)), exitRequested(other)) { break }
                    let quote := and(shr(80, w), 0xffffffffffff)
                    let buyerFee := signextend(4, shr(40, w))
                    let sellerFee := signextend(4, w)
                    let pays := add(quote, buyerFee)
                    let gets := sub(quote, sellerFee)
                    let owed := add(buyerFee, sellerFee)
                    if or(or(slt(pays, 0), slt(gets, 0)), slt(owed, 0)) { break }
                    let base := mul(and(shr(128, w), 0xffffffffffff), baseFactor)
                    pays := mul(pays, quoteFactor)
                    gets := mul(gets, quoteFactor)
                    let otherSlots := balancesOf(other)
                    let otherBaseSlot := add(otherSlots, baseAsset)
                    let otherQuoteSlot := add(otherSlots, quoteAsset)
                    switch hotBuys
                    case 0 {
                        let otherQuote := sload(otherQuoteSlot)
                        if or(lt(hotBase, base), lt(otherQuote, pays)) { break }
                        hotBase := sub(hotBase, base)
                        sstore(otherBaseSlot, add(sload(otherBaseSlot), base))
                        sstore(otherQuoteSlot, sub(otherQuote, pays))
                        hotQuote := add(hotQuote, gets)
                    }
                    default {
                        let otherBase := sload(otherBaseSlot)
                        if or(lt(otherBase, base), lt(hotQuote, pays)) { break }
                        sstore(otherBaseSlot, sub(otherBase, base))
                        hotBase := add(hotBase, base)
                        hotQuote := sub(hotQuote, pays)
                        sstore(otherQuoteSlot, add(sload(otherQuoteSlot), gets))
                    }
                    fees := add(fees, owed)
                }
                sstore(add(hotSlots, baseAsset), hotBase)
                sstore(add(hotSlots, quoteAsset), hotQuote)
            }
        }
        batch.fees += fees * quoteFactor;
    }

    /// @dev Loads `market` into the batch cache; fees owed in the previous quote asset are
    ///      credited first when the quote asset changes.
    function _enterMarket(BatchState memory batch, uint256 market) private {
        if (market >= marketCount) revert UnknownMarket(market);
        Market memory m = _markets[market];
        Asset memory base = _assets[m.base];
        Asset memory quote = _assets[m.quote];
        if (base.paused) revert AssetPaused(m.base);
        if (quote.paused) revert AssetPaused(m.quote);
        if (m.quote != batch.quote) _creditFees(batch);
        batch.market = market;
        batch.base = m.base;
        batch.quote = m.quote;
        batch.baseFactor = base.factor;
        batch.quoteFactor = quote.factor;
        batch.baseGated = base.gated;
        batch.quoteGated = quote.gated;
        batch.gated = base.gated || quote.gated;
    }

    function _creditFees(BatchState memory batch) private {
        if (batch.fees == 0) return;
        _requireSettleable(batch, FEE_ACCOUNT);
        _credit(FEE_ACCOUNT, batch.quote, batch.fees);
        batch.fees = 0;
    }

    /// @param item the withdrawal's 16 bytes in the low 128 bits.
    function _settleWithdrawal(BatchState memory batch, uint64 batchId, uint256 item) private {
        uint256 account = item >> 96;
        uint256 asset = uint16(item >> 80);
        uint256 amount = uint80(item);
        _requireSettleable(batch, account);
        Asset storage a = _asset(asset);
        if (a.paused) revert AssetPaused(asset);
        address to = _accounts[account].owner;
        if (a.gated) _requireAllowed(asset, to);
        uint256 units = amount * a.factor;
        _debit(account, asset, units);
        a.token.push(to, units);
        emit Withdrawn(batchId, uint32(account), uint16(asset), to, amount);
    }

    // ------------------------------------------------------------------ views

    /// @notice `account`'s balance of `asset` in token units (a whole number of engine units).
    function balanceOf(uint32 account, uint16 asset) external view returns (uint256) {
        return _balances[account][asset];
    }

    function assetInfo(uint16 asset)
        external
        view
        returns (address token, uint256 factor, bool paused, address hook)
    {
        Asset storage a = _asset(asset);
        return (address(a.token), a.factor, a.paused, address(hookOf[asset]));
    }

    function marketInfo(uint16 market) external view returns (uint16 base, uint16 quote) {
        if (market >= marketCount) revert UnknownMarket(market);
        Market storage m = _markets[market];
        return (m.base, m.quote);
    }

    /// @return owner the address withdrawals pay; exitRequestedAt 0 while no exit was requested.
    function accountInfo(uint32 account) external view returns (address owner, uint256 exitRequestedAt) {
        if (account >= accountCount) revert UnknownAccount(account);
        Account storage record = _accounts[account];
        return (record.owner, record.exitRequestedAt);
    }

    // ------------------------------------------------------------------ internals

    function _register(address owner) private returns (uint32 account) {
        account = accountCount;
        accountCount = account + 1;
        _accounts[account].owner = owner;
        accountOf[owner] = account;
        emit AccountRegistered(account, owner);
    }

    function _asset(uint256 asset) private view returns (Asset storage) {
        if (asset >= assetCount) revert UnknownAsset(asset);
        return _assets[asset];
    }

    function _owned(uint32 account) private view returns (Account storage record) {
        record = _accounts[account];
        if (account >= accountCount || record.owner != msg.sender) revert NotAccountOwner(account);
    }

    /// @dev Reverts unless `account` is registered and not past its exit delay.
    function _requireSettleable(BatchState memory batch, uint256 account) private view {
        if (account >= batch.accountCount) revert UnknownAccount(account);
        if (_exitFlags[account >> 8] & (uint256(1) << (account & 255)) == 0) return;
        if (block.timestamp >= _accounts[account].exitRequestedAt + exitDelay) revert AccountExited(account);
    }

    function _requireAllowed(uint256 asset, address account) private view {
        if (!hookOf[asset].isAllowed(account)) revert NotAllowed(asset, account);
    }

    function _credit(uint256 account, uint256 asset, uint256 amount) private {
        _balances[account][asset] += amount;
    }

    function _debit(uint256 account, uint256 asset, uint256 amount) private {
        uint256 balance = _balances[account][asset];
        if (balance < amount) revert InsufficientBalance(account, asset);
        unchecked {
            _balances[account][asset] = balance - amount;
        }
    }

    /// @dev The 32 bytes of calldata from `payload[offset]`; callers use only the bytes that lie
    ///      inside `payload` (the length checks in `settleBatch` guarantee they exist).
    function _word(bytes calldata payload, uint256 offset) private pure returns (uint256 word) {
        assembly ("memory-safe") {
            word := calldataload(add(payload.offset, offset))
        }
    }
}

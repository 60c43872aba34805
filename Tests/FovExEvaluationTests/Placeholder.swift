import XCTest
final class PlaceholderFovExEvaluationTests: XCTestCase { func testNothing() {} }
